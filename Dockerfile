# ssogate: build with the Rust toolchain, run on Debian slim.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      pkg-config libssl-dev libxml2-dev libxmlsec1-dev libclang-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked && cp target/release/ssogate /ssogate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libxml2 libxmlsec1 libxmlsec1-openssl && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/ssogate --create-home ssogate
COPY --from=build /ssogate /usr/local/bin/ssogate
USER ssogate
WORKDIR /var/lib/ssogate
ENV SSOGATE_SERVER__LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["ssogate"]
CMD ["serve"]
