//! What the trainee can press, as plain data: the keypad's keys and the other buttons' actions
//! (each button carries its code as `value`), and the rules for what a field keeps.

/// What a keypad button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// A digit, 0 to 9.
    Digit(u8),
    /// Remove the last digit.
    Delete,
    /// Remove every digit.
    Clear,
    /// Send the code.
    Confirm,
    /// Send the code again after a network failure.
    Retry,
    /// Open the device's own numeric keyboard.
    NativeKeyboard,
}

/// The labels of the digit keys, and their button values.
pub(crate) const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

impl Key {
    /// The button value that stands for the key.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Key::Digit(d) => DIGITS[usize::from(d % 10)],
            Key::Delete => "delete",
            Key::Clear => "clear",
            Key::Confirm => "send",
            Key::Retry => "retry",
            Key::NativeKeyboard => "keyboard",
        }
    }

    /// The key a button value stands for.
    pub(crate) fn parse(value: &str) -> Option<Key> {
        match value.as_bytes() {
            [d @ b'0'..=b'9'] => Some(Key::Digit(d - b'0')),
            b"delete" => Some(Key::Delete),
            b"clear" => Some(Key::Clear),
            b"send" => Some(Key::Confirm),
            b"retry" => Some(Key::Retry),
            b"keyboard" => Some(Key::NativeKeyboard),
            _ => None,
        }
    }
}

/// What a button outside the keypad does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Go to the confirmation step of a registration.
    Register,
    /// Confirm the registration.
    Confirm,
    /// Back from the confirmation step.
    Cancel,
    /// Ask the server again (after a failure, or after an unlock).
    Reload,
    /// Switch the language.
    Language,
    /// Copy the code.
    Copy,
    /// The next step of the activation form (or activate, on its last step).
    Next,
    /// The previous step of the activation form.
    Back,
    /// Add another ID through activation.
    AddId,
    /// Leave the activation form for this browser's codes.
    Close,
    /// Ask to remove the shown ID from this browser.
    Remove,
    /// Remove it, after the question.
    RemoveConfirmed,
    /// Dismiss the Home Screen advice for good.
    Dismiss,
}

impl Action {
    const ALL: [Action; 13] = [
        Action::Register,
        Action::Confirm,
        Action::Cancel,
        Action::Reload,
        Action::Language,
        Action::Copy,
        Action::Next,
        Action::Back,
        Action::AddId,
        Action::Close,
        Action::Remove,
        Action::RemoveConfirmed,
        Action::Dismiss,
    ];

    /// The button value that stands for the action.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Action::Register => "register",
            Action::Confirm => "confirm",
            Action::Cancel => "cancel",
            Action::Reload => "reload",
            Action::Language => "language",
            Action::Copy => "copy",
            Action::Next => "next",
            Action::Back => "back",
            Action::AddId => "add-id",
            Action::Close => "close",
            Action::Remove => "remove",
            Action::RemoveConfirmed => "remove-confirmed",
            Action::Dismiss => "dismiss",
        }
    }

    /// The action a button value stands for.
    pub(crate) fn parse(value: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.code() == value)
    }
}

/// The digits of `text`, at most `max` of them: what the code field keeps of typing and paste
/// ("123 456" and "123-456" are both "123456").
///
/// ```
/// use cloud_otp_web::widget::digits_only;
/// assert_eq!(digits_only("123 456", 6), "123456");
/// assert_eq!(digits_only("12a3-4567", 6), "123456");
/// assert_eq!(digits_only("１２", 6), "");
/// ```
pub fn digits_only(text: &str, max: usize) -> String {
    text.chars()
        .filter(char::is_ascii_digit)
        .take(max)
        .collect()
}

/// Whole seconds left of `ms` milliseconds, as the display counts them: 60 down to 1.
///
/// ```
/// use cloud_otp_web::widget::seconds_left;
/// assert_eq!(seconds_left(60_000.0), 60);
/// assert_eq!(seconds_left(42_300.0), 43);
/// assert_eq!(seconds_left(1.0), 1);
/// assert_eq!(seconds_left(-5.0), 1);
/// ```
pub fn seconds_left(ms: f64) -> u32 {
    (ms / 1000.0).ceil().clamp(1.0, 60.0) as u32
}
