//! Messages rendered from `templates/mail/` (a `.txt` and an `.html` per message; the
//! HTML escapes every value, the text is sent as text).

use askama::Template;

use super::{MailError, Message};

#[derive(Template)]
#[template(path = "mail/signin_code.txt")]
struct SigninCodeText<'a> {
    code: &'a str,
    link: &'a str,
    valid_minutes: u64,
}

#[derive(Template)]
#[template(path = "mail/signin_code.html")]
struct SigninCodeHtml<'a> {
    code: &'a str,
    link: &'a str,
    valid_minutes: u64,
}

/// The one-time sign-in code of the email connector: the code to type, and a link that
/// signs in with one click. Both are valid for `valid_minutes`.
pub fn signin_code(
    to: &str,
    code: &str,
    link: &str,
    valid_minutes: u64,
) -> Result<Message, MailError> {
    let text = SigninCodeText {
        code,
        link,
        valid_minutes,
    }
    .render()
    .map_err(|e| MailError::Template("mail/signin_code.txt", e.to_string()))?;
    let html = SigninCodeHtml {
        code,
        link,
        valid_minutes,
    }
    .render()
    .map_err(|e| MailError::Template("mail/signin_code.html", e.to_string()))?;
    Ok(Message {
        to: to.into(),
        subject: format!("Your sign-in code is {code}"),
        text,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signin_code_message_has_the_code_and_the_link_in_both_bodies() {
        let link = "https://login.example.com/login/email/verify?token=abc&x=1";
        let m = signin_code("alice@example.com", "123456", link, 10).expect("renders");
        assert_eq!(m.to, "alice@example.com");
        assert_eq!(m.subject, "Your sign-in code is 123456");
        assert!(m.text.contains("Your sign-in code is 123456"), "{}", m.text);
        assert!(
            m.text.contains(link),
            "the text body has the link as is: {}",
            m.text
        );
        assert!(m.text.contains("10 minutes"), "{}", m.text);
        assert!(
            m.html.contains("<strong id=\"code\">123456</strong>"),
            "{}",
            m.html
        );
        // The HTML escapes what it is given (`&` in the link's query).
        assert!(
            m.html.contains(
                "href=\"https://login.example.com/login/email/verify?token=abc&#38;x=1\""
            ),
            "{}",
            m.html
        );
        assert!(m.html.contains("10 minutes"), "{}", m.html);
    }

    #[test]
    fn html_in_a_value_is_escaped() {
        let m = signin_code(
            "a@example.com",
            "<b>1</b>",
            "https://x.example/\"><script>",
            5,
        )
        .expect("renders");
        assert!(!m.html.contains("<b>1</b>"), "{}", m.html);
        assert!(!m.html.contains("<script>"), "{}", m.html);
    }
}
