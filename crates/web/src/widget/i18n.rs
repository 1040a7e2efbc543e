//! The widget's words in Korean and English. Every text is a table entry; `%` marks where a
//! value goes, so each language keeps its own word order.

/// The widget's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 한국어.
    Ko,
    /// English.
    En,
}

impl Lang {
    /// The language for a BCP 47 tag such as `navigator.language`: Korean for `ko`, `ko-KR`,
    /// otherwise English.
    ///
    /// ```
    /// use cloud_otp_web::widget::Lang;
    /// assert_eq!(Lang::from_tag("ko-KR"), Lang::Ko);
    /// assert_eq!(Lang::from_tag("en-US"), Lang::En);
    /// assert_eq!(Lang::from_tag("kok"), Lang::En);
    /// ```
    pub fn from_tag(tag: &str) -> Lang {
        let primary = crate::text::piece(tag, b'-', 0);
        if primary.eq_ignore_ascii_case("ko") {
            Lang::Ko
        } else {
            Lang::En
        }
    }

    /// The BCP 47 tag, for `lang` attributes and date formatting.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// The other language, which the switch button offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }

    /// The text `key` in this language.
    pub fn t(self, key: T) -> &'static str {
        let table = match self {
            Lang::Ko => KO,
            Lang::En => EN,
        };
        crate::text::piece(table, b'\n', key as usize)
    }

    /// A browser's label as this language reads it: the server keeps "Chrome on Windows", which
    /// Korean says "Windows의 Chrome".
    ///
    /// ```
    /// use cloud_otp_web::widget::Lang;
    /// assert_eq!(Lang::Ko.label("Safari on iPhone"), "iPhone의 Safari");
    /// assert_eq!(Lang::En.label("Safari on iPhone"), "Safari on iPhone");
    /// assert_eq!(Lang::Ko.label("Authenticator app"), "Authenticator app");
    /// ```
    pub fn label(self, label: &str) -> String {
        // A byte search: `split_once` with a string pattern costs a kilobyte of the module.
        let at = label.as_bytes().windows(4).position(|w| w == b" on ");
        match (self, at) {
            (Lang::Ko, Some(i)) => crate::text::concat(&[&label[i + 4..], "의 ", &label[..i]]),
            _ => label.to_owned(),
        }
    }

    /// The text `key` with its `%` marks replaced by `values`, in order.
    ///
    /// ```
    /// use cloud_otp_web::widget::{Lang, T};
    /// assert_eq!(Lang::En.fill(T::Id, &["trainee-1"]), "ID trainee-1");
    /// assert_eq!(Lang::Ko.fill(T::Id, &["trainee-1"]), "아이디 trainee-1");
    /// ```
    pub fn fill(self, key: T, values: &[&str]) -> String {
        let text = self.t(key);
        let mut out = String::new();
        let mut values = values.iter();
        let mut start = 0;
        for (i, b) in text.bytes().enumerate() {
            if b == b'%' {
                out.push_str(&text[start..i]);
                out.push_str(values.next().copied().unwrap_or_default());
                start = i + 1;
            }
        }
        out.push_str(&text[start..]);
        out
    }
}

/// The keys of the text tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // Each key is its English text, below.
pub enum T {
    Brand,
    LangName,
    Loading,
    Id,
    RegisterTitle,
    RegisterWhat,
    RegisterButton,
    ConfirmTitle,
    ConfirmText,
    Confirm,
    Cancel,
    Registering,
    UnapprovedTitle,
    UnapprovedText,
    ReplaceWarning,
    ReplaceButton,
    ErasedTitle,
    ErasedText,
    RegisterAgain,
    CodeTitle,
    Digits,
    Seconds,
    NearExpiry,
    WaitHint,
    Copy,
    Copied,
    CopyFailed,
    TypeLabel,
    Delete,
    DeleteName,
    Clear,
    PhoneKeyboard,
    Incomplete,
    Checking,
    WrongCode,
    Replayed,
    ClockMoved,
    NetworkInline,
    TryAgain,
    RateLimited,
    SuccessTitle,
    SuccessText,
    SuspendedTitle,
    SuspendedText,
    SuspendedHow,
    Institution,
    CheckAgain,
    NoStorageTitle,
    NoStorageText,
    NoStorageDo,
    NetworkTitle,
    NetworkText,
    SessionTitle,
    SessionText,
    ErrorTitle,
    ErrorText,
    EmptyText,
    CheckModeText,
    Account,
    AddId,
    ActivateTitle,
    StepOf,
    ActivateIntro,
    InstitutionLine,
    CustomerLabel,
    LoginLabel,
    ActivationLabel,
    ActivateReplaces,
    ActivateReplace,
    ActivateButton,
    Next,
    Back,
    CustomerFormat,
    LoginFormat,
    ActivationFormat,
    UnknownCustomer,
    ServiceClosed,
    NotEnrolled,
    ActivationDead,
    ActivationWrong,
    ActivationExpired,
    ActivationUsed,
    ActivateExists,
    TooManyIds,
    NetworkForm,
    PinChooseTitle,
    PinAgainTitle,
    PinChooseText,
    PinEnterTitle,
    PinEnterText,
    PinForgot,
    PinLabel,
    PinIncomplete,
    PinMismatch,
    ClosedTitle,
    ClosedText,
    RemoveId,
    RemoveTitle,
    RemoveText,
    RemoveButton,
    Offline,
    AdviceTitle,
    AdviceText,
    AdviceOk,
    TestOnly,
}

// Each language is one text a line rather than an array of `&str`: an array would add 8 bytes
// of pointer and length per text (1.5 KB) to the module, which the trainee downloads.
// Every table has a line for every key, checked when the crate compiles.
const _: () = assert!(lines(EN) == KEYS && lines(KO) == KEYS);

/// How many keys there are: the last one's index, plus one.
const KEYS: usize = T::TestOnly as usize + 1;

/// The number of lines of `text`.
const fn lines(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut n = 1;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            n += 1;
        }
        i += 1;
    }
    n
}

/// The English texts, one a line, in the order of [`T`].
const EN: &str = "\
Cloud OTP
English
Loading…
ID %
Register this browser
Registering makes this browser the OTP device of ID %: it shows your one-time codes, and no other browser will.
Register cloud OTP
Confirm registration
Register % as the OTP device of ID %?
Confirm
Cancel
Registering…
This browser is not your OTP device
OTP for ID % is registered on % (registered %).
If you register this browser instead, % stops working for OTP.
Register this browser instead
This browser's OTP data was erased
ID % was registered in this browser (%, %), but its OTP data has been erased, as browsers do after days without a visit (Safari: 7) or when site data is cleared.
Register this browser again
Your OTP code
Code: %
% s
10 seconds left. A new code follows; this one still works for a moment after it changes.
This code changes in a few seconds: you can wait for the next one.
Copy
Copied
Could not copy: select the digits instead.
Type the code
Delete
Delete last digit
Clear
Use the phone keyboard
Type all 6 digits.
Checking…
Wrong code. Attempts left before OTP is suspended: %.
This code was already used. Wait for the next code and type it.
This device's clock moved since your last visit, so the code changed. Type the code shown now.
Could not reach the OTP server. What you typed is kept: try again.
Try again
Too many attempts. Wait a minute, then try again.
OTP confirmed
You can continue on the training site.
OTP is suspended
Five wrong codes in a row suspended OTP for ID %.
To unlock it, contact %: they confirm your identity (for example by phone) and unlock OTP. Then choose “Check again”.
your training institution
Check again
This browser cannot keep the OTP key
Nothing was registered, and your ID is as it was. This usually means a private (incognito) window, or a mode that blocks site storage, such as Lockdown Mode.
Open this page in a normal window or another browser and register there, or ask your institution about an authenticator app.
Cannot reach the OTP server
Check your internet connection and try again. Nothing was lost.
This OTP request has expired
Reload the page to start again.
Something went wrong
Try again later; your registration is kept. Error code: %
No activation code? Your training site may register this browser itself the first time it asks for a cloud OTP code: open the training site and follow its OTP step.
Type this code where your training site asks for it.
ID
Add an ID
Activate cloud OTP
Step % of 3
Type what your training institution gave you: its customer code, your login ID and a 6-digit activation code.
Institution: % (customer code %)
Customer code (4 digits)
Login ID
Activation code (6 digits)
Activating here retires OTP on % (registered %).
Activate this browser instead
Activate
Next
Back
Type the 4-digit customer code.
Type your login ID: 1 to 128 characters.
Type the 6-digit activation code.
No institution has customer code %. Check the code your training institution gave you.
The institution with customer code % is not open for OTP service yet. Ask it when the service starts.
ID % is not enrolled for OTP at %. Check the ID, or ask the institution for an activation code.
This activation code was typed wrong too often and no longer works. Ask your training institution for a new one.
Wrong activation code. Attempts left: %.
This activation code has expired: codes work for 3 days. Ask your training institution for a new one.
This activation code was already used. Ask your training institution for a new one.
This ID already has OTP on another device. Activate this browser instead to retire it.
This browser already holds 10 IDs, the most it can.
Could not reach the OTP server. Nothing was lost: check the connection and try again.
Choose a PIN
Type the PIN again
% asks for a %-digit PIN. It becomes part of your OTP key: a wrong PIN gives wrong codes.
Enter your PIN
Type the %-digit PIN of ID % to see its code. A wrong PIN gives wrong codes, and they count toward the limit of 5.
Forgot the PIN? Ask your training institution for a new activation code and activate again.
PIN
Type all % digits of the PIN.
The two PINs differ. Choose a PIN again.
Not open for service
Your training institution is not open for OTP service yet. Ask it when the service starts.
Remove this ID
Remove this ID from this browser?
This browser stops showing codes for ID %. To use it here again, you need a new activation code from your training institution.
Remove
Offline: this code is computed on the time measured on your last visit.
Add Cloud OTP to your Home Screen
Safari erases a site's data, OTP key included, after 7 days without a visit, but not a Home Screen app's. Tap Share, “Add to Home Screen”, then activate in that app: it keeps its own data.
OK
Testing only: a test institution, not a real check";

/// The Korean texts, one a line, in the order of [`T`].
const KO: &str = "\
클라우드 OTP
한국어
불러오는 중…
아이디 %
이 브라우저 등록
등록하면 이 브라우저가 아이디 %의 OTP 기기가 되어 일회용 인증번호를 보여 주며, 다른 브라우저에서는 보이지 않습니다.
클라우드 OTP 등록
등록 확인
이 브라우저(%)를 아이디 %의 OTP 기기로 등록할까요?
확인
취소
등록하는 중…
OTP가 등록된 기기가 아닙니다
아이디 %의 OTP는 %에 등록되어 있습니다(% 등록).
이 브라우저를 대신 등록하면 %에서는 더 이상 OTP를 쓸 수 없습니다.
이 브라우저를 대신 등록
이 브라우저의 OTP 정보가 지워졌습니다
아이디 %의 OTP가 이 브라우저(%, %)에 등록되어 있었지만 OTP 정보가 지워졌습니다. 며칠 방문하지 않거나(Safari는 7일) 사이트 데이터를 삭제하면 브라우저가 지웁니다.
이 브라우저 다시 등록
OTP 인증번호
인증번호: %
%초
10초 남았습니다. 곧 새 번호가 나오며, 지금 번호도 바뀐 직후 잠시 동안은 쓸 수 있습니다.
이 번호는 곧 바뀝니다. 다음 번호를 기다렸다가 입력해도 됩니다.
복사
복사했습니다
복사하지 못했습니다. 숫자를 직접 선택하세요.
인증번호 입력
지우기
마지막 숫자 지우기
전체 삭제
휴대폰 키보드 사용
6자리를 모두 입력하세요.
확인하는 중…
인증번호가 틀렸습니다. OTP 정지까지 남은 횟수: %.
이미 사용한 번호입니다. 다음 번호가 나오면 입력하세요.
지난 방문 뒤 이 기기의 시계가 바뀌어 번호가 바뀌었습니다. 지금 보이는 번호를 입력하세요.
OTP 서버에 연결하지 못했습니다. 입력한 번호는 그대로 있으니 다시 시도하세요.
다시 시도
시도가 너무 많습니다. 1분 뒤에 다시 시도하세요.
OTP 인증 완료
훈련 사이트에서 계속 진행하세요.
OTP 사용이 정지되었습니다
인증번호가 5번 연속 틀려 아이디 %의 OTP가 정지되었습니다.
정지를 풀려면 %에 연락하세요. 본인 확인(예: 전화) 후 정지를 해제해 줍니다. 그다음 ‘다시 확인’을 누르세요.
소속 훈련기관
다시 확인
이 브라우저는 OTP 키를 저장할 수 없습니다
아무것도 등록되지 않았으며 아이디는 그대로입니다. 대개 시크릿(개인 정보 보호) 창이거나, 잠금 모드처럼 사이트 저장을 막는 모드이기 때문입니다.
일반 창이나 다른 브라우저에서 이 페이지를 열어 등록하거나, 교육기관에 인증 앱을 문의하세요.
OTP 서버에 연결할 수 없습니다
인터넷 연결을 확인하고 다시 시도하세요. 등록 정보는 그대로입니다.
OTP 요청 시간이 지났습니다
페이지를 새로 고쳐 다시 시작하세요.
문제가 생겼습니다
잠시 후 다시 시도하세요. 등록 정보는 그대로입니다. 오류 코드: %
활성화 코드가 없나요? 훈련 사이트에서 처음 클라우드 OTP 인증을 요청할 때 이 브라우저가 등록될 수 있습니다. 훈련 사이트를 열고 OTP 단계를 따라 하세요.
훈련 사이트에서 인증번호를 물으면 이 번호를 입력하세요.
아이디
아이디 추가
클라우드 OTP 활성화
3단계 중 %단계
훈련기관에서 받은 고객 코드, 로그인 아이디, 6자리 활성화 코드를 차례로 입력하세요.
훈련기관: %(고객 코드 %)
고객 코드(4자리)
로그인 아이디
활성화 코드(6자리)
여기에서 활성화하면 %(% 등록)의 OTP는 더 이상 쓸 수 없습니다.
이 브라우저로 대신 활성화
활성화
다음
이전
4자리 고객 코드를 입력하세요.
로그인 아이디를 입력하세요(1~128자).
6자리 활성화 코드를 입력하세요.
고객 코드 %에 해당하는 훈련기관이 없습니다. 훈련기관에서 받은 코드를 확인하세요.
고객 코드 %의 훈련기관은 아직 OTP 서비스를 시작하지 않았습니다. 시작 일정은 훈련기관에 문의하세요.
아이디 %: %에 OTP 사용자로 등록되어 있지 않습니다. 아이디를 확인하거나 훈련기관에 활성화 코드를 요청하세요.
활성화 코드를 너무 많이 틀려 더 이상 쓸 수 없습니다. 훈련기관에 새 코드를 요청하세요.
활성화 코드가 틀렸습니다. 남은 횟수: %.
활성화 코드의 유효 기간(3일)이 지났습니다. 훈련기관에 새 코드를 요청하세요.
이미 사용한 활성화 코드입니다. 훈련기관에 새 코드를 요청하세요.
이 아이디는 다른 기기에 OTP가 등록되어 있습니다. 이 브라우저로 대신 활성화하면 그 기기는 해제됩니다.
이 브라우저에는 이미 아이디 10개가 등록되어 있어 더 추가할 수 없습니다.
OTP 서버에 연결하지 못했습니다. 입력한 내용은 그대로 있으니 연결을 확인하고 다시 시도하세요.
PIN 설정
PIN 다시 입력
%에서는 %자리 PIN을 사용합니다. PIN은 OTP 키의 일부가 되어, 틀린 PIN으로는 틀린 인증번호가 나옵니다.
PIN 입력
인증번호를 보려면 %자리 PIN(아이디 %)을 입력하세요. 틀린 PIN으로 나온 인증번호는 틀린 번호로 5회 제한에 포함됩니다.
PIN을 잊었다면 훈련기관에 새 활성화 코드를 요청해 다시 활성화하세요.
PIN
PIN %자리를 모두 입력하세요.
두 PIN이 서로 다릅니다. PIN을 다시 설정하세요.
서비스 준비 중
소속 훈련기관이 아직 OTP 서비스를 시작하지 않았습니다. 시작 일정은 훈련기관에 문의하세요.
이 아이디 삭제
이 브라우저에서 아이디를 삭제할까요?
이 브라우저에서 아이디 %의 인증번호가 더 이상 표시되지 않습니다. 다시 사용하려면 훈련기관에서 새 활성화 코드를 받아야 합니다.
삭제
오프라인: 지난 방문 때 맞춘 시간으로 계산한 인증번호입니다.
홈 화면에 클라우드 OTP 추가
Safari는 7일간 방문하지 않은 사이트의 데이터(OTP 키 포함)를 지우지만 홈 화면 앱은 지우지 않습니다. 공유 → ‘홈 화면에 추가’ 후 그 앱에서 활성화하세요. 앱은 Safari와 따로 저장합니다.
확인
테스트 전용: 테스트 기관이며 실제 확인이 아닙니다";

#[cfg(test)]
mod tests {
    use super::{EN, KEYS, KO};

    #[test]
    fn both_languages_fill_in_the_same_values() {
        let pairs: Vec<_> = EN.split('\n').zip(KO.split('\n')).collect();
        assert_eq!(pairs.len(), KEYS);
        for (key, (en, ko)) in pairs.into_iter().enumerate() {
            assert!(!en.is_empty() && !ko.is_empty(), "text {key} is empty");
            assert_eq!(
                en.matches('%').count(),
                ko.matches('%').count(),
                "text {key}: {en:?} and {ko:?} take different numbers of values"
            );
        }
    }
}
