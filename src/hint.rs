//! What to do next, kept apart from what went wrong: an error's `Display` is the message
//! alone, and [`Hint::hint`] the advice. The top level prints the message, its causes, then
//! the hint; places that gather several failures into one report use [`explain`]. Also
//! [`InternalError`], the fault that is airgap's own.
//!
//! A leaf: it uses nothing of the crate.

/// An error that can say what to do about it.
pub trait Hint {
    /// The advice, if the error has one.
    fn hint(&self) -> Option<String>;
}

/// The message and its hint as a user reads them: `message` then `hint: advice`.
pub fn explain<E: std::fmt::Display + Hint + ?Sized>(error: &E) -> String {
    match error.hint() {
        Some(hint) => format!("{error}\nhint: {hint}"),
        None => error.to_string(),
    }
}

/// An error made of a message and a hint, for failures that have no type of their own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    pub message: String,
    pub hint: Option<String>,
}

impl Hinted {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Hinted {
        Hinted {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// Keeps the message and the hint of a typed error.
    pub fn of<E: std::fmt::Display + Hint + ?Sized>(error: &E) -> Hinted {
        Hinted {
            message: error.to_string(),
            hint: error.hint(),
        }
    }
}

impl Hint for Hinted {
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// An error that is airgap's own fault (a task that died, a state the code cannot reach):
/// exit status 2, wherever it sits in the chain.
#[derive(Debug, thiserror::Error)]
#[error("internal error: {0}")]
pub struct InternalError(pub String);

impl Hint for InternalError {
    fn hint(&self) -> Option<String> {
        Some(
            "this is a bug in airgap; please report it with the command line that caused it"
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_follows_the_message() {
        let error = Hinted::new("the lock is stale", "run `airgap lock`");
        assert_eq!(error.to_string(), "the lock is stale");
        assert_eq!(
            explain(&error),
            "the lock is stale\nhint: run `airgap lock`"
        );
        let plain = Hinted {
            message: "no advice".to_string(),
            hint: None,
        };
        assert_eq!(explain(&plain), "no advice");
    }
}
