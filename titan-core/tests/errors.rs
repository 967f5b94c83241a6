//! A method's own error stays typed on the caller's side, apart from runtime
//! failures: the caller can tell "the service said no" from "the service is
//! unreachable".

use std::fmt;

use titan_core::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum BankError {
    InsufficientFunds { balance: u64, asked: u64 },
    Frozen(String),
}

impl fmt::Display for BankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankError::InsufficientFunds { balance, asked } => {
                write!(f, "insufficient funds: balance {balance}, asked {asked}")
            }
            BankError::Frozen(account) => write!(f, "account {account} is frozen"),
        }
    }
}

impl std::error::Error for BankError {}

struct Bank {
    balance: u64,
}

#[process]
impl Bank {
    #[init]
    fn new(balance: u64) -> Self {
        Bank { balance }
    }

    #[public]
    async fn withdraw(&mut self, amount: u64) -> Result<u64, BankError> {
        if amount > self.balance {
            return Err(BankError::InsufficientFunds {
                balance: self.balance,
                asked: amount,
            });
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    #[public]
    fn freeze_check(&self, account: String) -> Result<(), BankError> {
        if account.starts_with("frozen") {
            Err(BankError::Frozen(account))
        } else {
            Ok(())
        }
    }

    #[public]
    fn parse(&self, text: String) -> Result<i64, String> {
        text.parse::<i64>().map_err(|e| format!("`{text}`: {e}"))
    }
}

async fn bank(pm: &ProcessManager, balance: u64) -> BankProxy {
    pm.spawn_with::<Bank>(SpawnOptions::new().config(balance))
        .await
        .expect("spawns")
}

#[tokio::test]
async fn a_typed_application_error_reaches_the_caller_as_call_error_application() {
    let pm = ProcessManager::new();
    let bank = bank(&pm, 100).await;

    let result = bank.withdraw(250).await;
    assert_eq!(
        result,
        Err(CallError::Application(BankError::InsufficientFunds {
            balance: 100,
            asked: 250,
        }))
    );
    match result {
        Err(CallError::Application(BankError::InsufficientFunds { balance, asked })) => {
            assert_eq!((balance, asked), (100, 250));
        }
        other => panic!("expected an application error, got {other:?}"),
    }

    assert_eq!(
        bank.freeze_check("frozen-7".into()).await,
        Err(CallError::Application(BankError::Frozen("frozen-7".into())))
    );
}

#[tokio::test]
async fn the_ok_value_of_a_fallible_method_comes_back_unwrapped() {
    let pm = ProcessManager::new();
    let bank = bank(&pm, 100).await;

    assert_eq!(bank.withdraw(30).await, Ok(70));
    assert_eq!(bank.withdraw(70).await, Ok(0));
    assert_eq!(bank.freeze_check("open-1".into()).await, Ok(()));
    // An application error leaves the process serving.
    assert!(bank.withdraw(1).await.is_err());
    assert_eq!(bank.withdraw(0).await, Ok(0));
}

#[tokio::test]
async fn a_non_error_type_works_as_the_application_error() {
    let pm = ProcessManager::new();
    let bank = bank(&pm, 0).await;

    assert_eq!(bank.parse("42".into()).await, Ok(42));
    let err = bank
        .parse("forty-two".into())
        .await
        .expect_err("not a number");
    let message = err.into_application().expect("an application error");
    assert!(message.starts_with("`forty-two`: "), "{message}");
}

#[tokio::test]
async fn a_runtime_failure_of_a_fallible_method_is_call_error_runtime() {
    let pm = ProcessManager::new();
    let bank = bank(&pm, 100).await;
    let id = bank.process_id().expect("a managed process");
    assert!(pm.kill(id));

    let err = bank.withdraw(10).await.expect_err("the process is gone");
    assert!(
        matches!(
            &err,
            CallError::Runtime(Error::ProcessStopped { reason, .. }) if reason == "killed"
        ),
        "{err:?}"
    );
    assert_eq!(err.application(), None);
    assert_eq!(
        err.runtime().map(Error::code),
        Some(titan_core::ErrorCode::ProcessStopped)
    );
}

#[tokio::test]
async fn application_errors_convert_into_anyhow_with_their_message() {
    async fn withdraw_all(bank: &BankProxy, amount: u64) -> anyhow::Result<u64> {
        Ok(bank.withdraw(amount).await?)
    }

    let pm = ProcessManager::new();
    let bank = bank(&pm, 5).await;

    let err = withdraw_all(&bank, 9).await.expect_err("too much");
    assert_eq!(err.to_string(), "insufficient funds: balance 5, asked 9");
    let call_error = err
        .downcast_ref::<CallError<BankError>>()
        .expect("the CallError is kept inside");
    assert_eq!(
        call_error.application(),
        Some(&BankError::InsufficientFunds {
            balance: 5,
            asked: 9
        })
    );
    assert_eq!(withdraw_all(&bank, 5).await.expect("exact balance"), 0);
}

#[tokio::test]
async fn infallible_methods_fail_only_with_runtime_errors() {
    #[derive(Default)]
    struct Echo;

    #[process]
    impl Echo {
        #[public]
        fn echo(&self, text: String) -> String {
            text
        }
    }

    let pm = ProcessManager::new();
    let echo = pm.spawn::<Echo>().await.expect("spawns");
    let ok: Result<String, Error> = echo.echo("hi".into()).await;
    assert_eq!(ok, Ok("hi".to_string()));

    pm.kill(echo.process_id().expect("managed"));
    let err: Error = echo.echo("hi".into()).await.expect_err("killed");
    assert!(matches!(err, Error::ProcessStopped { .. }), "{err:?}");
    assert!(!err.is_retryable(), "a stopped process stays stopped");
}
