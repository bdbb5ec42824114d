//! The console transport: the embedded default, for development and tests. Each message
//! is written to the log (sign-in codes included: do not use it in production) and the
//! last [`KEEP`] are kept in memory, newest last.

use std::collections::VecDeque;
use std::sync::Mutex;

use lettre::message::Mailbox;

use super::Message;

/// How many messages the outbox keeps (a bound, so a flood of mail cannot grow memory).
pub const KEEP: usize = 100;

/// A message the console "sent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// `mail.from` as it would be sent.
    pub from: String,
    pub message: Message,
}

pub struct Outbox {
    kept: Mutex<VecDeque<Kept>>,
    capacity: usize,
}

impl Outbox {
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            kept: Mutex::new(VecDeque::with_capacity(capacity.min(KEEP))),
            capacity: capacity.max(1),
        }
    }

    pub(super) fn keep(&self, from: &Mailbox, message: Message) {
        let from = from.to_string();
        tracing::info!(
            target: "ssogate::mail",
            "mail (console outbox)\nFrom: {from}\nTo: {}\nSubject: {}\n\n{}",
            message.to,
            message.subject,
            message.text
        );
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= self.capacity {
            kept.pop_front();
        }
        kept.push_back(Kept { from, message });
    }

    /// The kept messages, oldest first.
    pub fn messages(&self) -> Vec<Kept> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().cloned().collect()
    }

    /// The newest message to `to` (compared as written).
    pub fn last_to(&self, to: &str) -> Option<Kept> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().rev().find(|k| k.message.to == to).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_n() {
        let outbox = Outbox::new(2);
        let from: Mailbox = "a@example.com".parse().expect("mailbox");
        for i in 0..3 {
            outbox.keep(
                &from,
                Message {
                    to: format!("u{i}@example.com"),
                    subject: format!("s{i}"),
                    text: String::new(),
                    html: String::new(),
                },
            );
        }
        let subjects: Vec<_> = outbox
            .messages()
            .into_iter()
            .map(|k| k.message.subject)
            .collect();
        assert_eq!(subjects, ["s1", "s2"]);
        assert!(outbox.last_to("u0@example.com").is_none());
        assert_eq!(
            outbox.last_to("u2@example.com").map(|k| k.message.subject),
            Some("s2".to_string())
        );
    }
}
