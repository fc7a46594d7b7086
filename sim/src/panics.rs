//! Panic messages: injected crashes are silent, anything else is kept for
//! the failure report (the default hook would print it mid-summary).

use std::cell::RefCell;

use crate::faults::CRASH;

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs a hook that remembers each panic's message and location for
/// [`message`] instead of printing it; `verbose` prints it too.
pub fn install_hook(verbose: bool) {
    std::panic::set_hook(Box::new(move |info| {
        let text = payload_text(info.payload());
        if text == CRASH {
            return;
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let full = format!("{text}{at}");
        if verbose {
            eprintln!("panic: {full}");
        }
        LAST.with(|last| *last.borrow_mut() = Some(full));
    }));
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".to_owned())
}

/// The message of a caught panic: the hook's record (with location) if it
/// saw it, else the payload's text.
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    LAST.with(|last| last.borrow_mut().take())
        .unwrap_or_else(|| payload_text(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_str_and_string_payloads() {
        let s: Box<dyn std::any::Any + Send> = Box::new("boom");
        assert_eq!(payload_text(s.as_ref()), "boom");
        let s: Box<dyn std::any::Any + Send> = Box::new(String::from("bang"));
        assert_eq!(payload_text(s.as_ref()), "bang");
        let s: Box<dyn std::any::Any + Send> = Box::new(3_u8);
        assert!(payload_text(s.as_ref()).contains("non-text"));
    }
}
