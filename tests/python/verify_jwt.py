"""Verifies an ssogate token the way an app would, with PyJWT and the JWKS.

    verify_jwt.py JWKS_URL TOKEN AUDIENCE ISSUER

Prints the claims as JSON (plus the header's kid and typ as kid_header, typ_header) and
exits 0, or prints why the token was refused and exits 1.
"""
import json
import sys

import jwt


def main() -> int:
    jwks_url, token, audience, issuer = sys.argv[1:5]
    client = jwt.PyJWKClient(jwks_url, cache_keys=False)
    try:
        key = client.get_signing_key_from_jwt(token)
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=["EdDSA", "ES256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )
    except Exception as e:  # noqa: BLE001 - any refusal is the answer
        print(f"refused: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    claims["kid_header"] = header.get("kid")
    claims["typ_header"] = header.get("typ")
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
