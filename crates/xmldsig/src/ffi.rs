//! The generated libxml2/libxmlsec1 declarations (`build.rs`), and xmlsec's error
//! reporting turned into a per-thread "last error" instead of lines on stderr: a forged
//! response must become one typed rejection in the log, not library noise.

#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unreachable_pub,
    missing_docs,
    unsafe_op_in_unsafe_fn,
    clippy::all
)]

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int};

include!(concat!(env!("OUT_DIR"), "/xmlsec.rs"));

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Clears the thread's last error for the duration of one operation.
pub(crate) struct ErrorCapture;

impl ErrorCapture {
    pub(crate) fn start() -> Self {
        LAST.with(|l| l.borrow_mut().take());
        Self
    }
}

impl Drop for ErrorCapture {
    fn drop(&mut self) {
        LAST.with(|l| l.borrow_mut().take());
    }
}

/// Forgets the thread's last error (before a new attempt).
pub(crate) fn clear_error() {
    LAST.with(|l| l.borrow_mut().take());
}

/// The first error xmlsec reported on this thread since [`ErrorCapture::start`].
pub(crate) fn last_error() -> String {
    LAST.with(|l| l.borrow().clone())
        .unwrap_or_else(|| "no detail from the XML security library".into())
}

fn lossy(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: xmlsec passes NUL-terminated strings valid for the callback's duration.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// xmlsec's error callback: keeps the first error of the operation (the root cause;
/// later ones are its consequences up the call stack). Never unwinds.
unsafe extern "C" fn on_error(
    _file: *const c_char,
    _line: c_int,
    func: *const c_char,
    _object: *const c_char,
    subject: *const c_char,
    _reason: c_int,
    msg: *const c_char,
) {
    let _ = std::panic::catch_unwind(|| {
        LAST.with(|l| {
            if let Ok(mut last) = l.try_borrow_mut()
                && last.is_none()
            {
                let parts = [lossy(func), lossy(subject), lossy(msg)];
                let parts: Vec<&str> = parts
                    .iter()
                    .map(String::as_str)
                    .filter(|p| !p.is_empty())
                    .collect();
                *last = Some(parts.join(": "));
            }
        });
    });
}

pub(crate) fn install_error_handler() {
    // SAFETY: sets a process-wide function pointer; `on_error` is a valid `extern "C"`
    // function for the program's lifetime and is safe to call from any thread.
    unsafe { xmlSecErrorsSetCallback(Some(on_error)) }
}
