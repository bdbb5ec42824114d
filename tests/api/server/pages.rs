//! The pages a person sees: the sign-in page with home-realm discovery, /me, sign-out.

use crate::signin::keycloak::{setup_keycloak, Setup};
use crate::support::keycloak::{redirect_target, sign_in, unique, KeycloakAdmin};
use crate::support::{new_client, spawn_app, Db};

#[tokio::test]
async fn the_sign_in_page_routes_claimed_domains_to_their_idp() {
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    let page = app
        .get("/login?return_to=%2Fme")
        .await
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(r#"href="/login/kc-oidc?return_to=%2Fme""#),
        "{page}"
    );

    // An email in a claimed domain goes to the first connector claiming it.
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("email", "Someone@ACME.test"), ("return_to", "/me")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    let to = redirect_target(&r);
    assert!(
        to.starts_with("/login/kc-") && to.ends_with("?return_to=%2Fme"),
        "{to}"
    );
    // Other domains stay on the page with a hint; garbage is refused politely.
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("email", "x@elsewhere.test")])
        .send()
        .await
        .expect("post");
    assert_eq!(redirect_target(&r), "/login?error=no_sso");
    let r = app
        .client
        .post(app.url("/login"))
        .form(&[("email", "not an email"), ("return_to", "//evil")])
        .send()
        .await
        .expect("post");
    assert_eq!(
        redirect_target(&r),
        "/login?error=bad_email",
        "and the bad return_to is dropped"
    );
}

#[tokio::test]
async fn me_needs_a_session_and_logout_ends_it() {
    let kc = KeycloakAdmin::connect().await;
    let name = unique("me");
    kc.create_user(&name, &format!("{name}@acme.test"), "Me", "Myself", &[])
        .await;
    let app = spawn_app(Db::Sqlite).await;
    setup_keycloak(&app, &Setup::default()).await;
    let r = new_client().get(app.url("/me")).send().await.expect("me");
    assert_eq!(r.status(), 303);
    assert_eq!(redirect_target(&r), "/login?return_to=%2Fme");

    let browser = new_client();
    assert_eq!(
        sign_in(&app, &browser, "kc-oidc", &name).await.status(),
        303
    );
    assert_eq!(
        browser
            .get(app.url("/me"))
            .send()
            .await
            .expect("me")
            .status(),
        200
    );
    let r = browser
        .post(app.url("/logout"))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 303);
    let r = browser.get(app.url("/me")).send().await.expect("me");
    assert_eq!(r.status(), 303, "signed out");
}
