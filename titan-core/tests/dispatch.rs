//! Method identity and dispatch: wire ids are `MethodId::of(name)` and
//! distinct, a request for an id the process does not know gets
//! `Error::MethodNotFound`, and arguments of the wrong shape get
//! `Error::Decode` without harming the process.

use std::collections::HashSet;

use titan_core::prelude::*;
use titan_core::{MethodDefinition, MethodId, Payload, Receiver, Request};

#[derive(Default)]
struct Calculator;

#[process(name = "dispatch-calculator", version = "1.0.0")]
impl Calculator {
    #[public]
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    #[public]
    async fn sub(&self, a: i64, b: i64) -> i64 {
        a - b
    }

    #[public]
    fn neg(&self, a: i64) -> i64 {
        -a
    }

    #[public]
    fn zero(&self) -> i64 {
        0
    }

    /// `r#` is not part of the method's name.
    #[public]
    fn r#type(&self) -> String {
        "calculator".into()
    }
}

/// A method this process does not have, as a caller built against another
/// version of it might send.
static MISSING: MethodDefinition = MethodDefinition {
    name: "mul",
    id: MethodId::of("mul"),
    args: &[],
    key: None,
    result: "i64",
    error: None,
    receiver: Receiver::Shared,
    client_streaming: false,
    server_streaming: false,
    docs: "",
};

fn request(method: &'static MethodDefinition, payload: Payload) -> Request {
    Request {
        service: Calculator::DEFINITION,
        method,
        payload,
        deadline: None,
        stream: None,
        key: None,
    }
}

fn method(name: &str) -> &'static MethodDefinition {
    Calculator::DEFINITION
        .method(name)
        .expect("the method exists")
}

#[test]
fn method_ids_are_the_hash_of_the_method_name() {
    for method in Calculator::DEFINITION.methods {
        assert_eq!(method.id, MethodId::of(method.name), "{}", method.name);
    }
    assert_eq!(method("type").id, MethodId::of("type"));
}

#[test]
fn method_ids_are_distinct() {
    let ids: HashSet<MethodId> = Calculator::DEFINITION
        .methods
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids.len(), Calculator::DEFINITION.methods.len());
}

#[tokio::test]
async fn a_request_for_an_unknown_method_id_gets_method_not_found() {
    let pm = ProcessManager::new();
    let calc = pm.spawn::<Calculator>().await.expect("spawns");

    let err = calc
        .client()
        .call(request(&MISSING, Payload::value(())))
        .await
        .expect_err("no such method");
    match &err {
        Error::MethodNotFound { service, method } => {
            assert_eq!(service, "dispatch-calculator@1.0.0");
            assert_eq!(method, &MethodId::of("mul").to_string());
        }
        other => panic!("expected MethodNotFound, got {other:?}"),
    }
    assert!(!err.is_retryable());

    // A leaked definition works as well as a static one.
    let leaked: &'static MethodDefinition = Box::leak(Box::new(MethodDefinition {
        name: "div",
        id: MethodId::of("div"),
        ..MISSING
    }));
    let err = calc
        .client()
        .call(request(
            leaked,
            Payload::encode(&(1_i64, 2_i64)).expect("encodes"),
        ))
        .await
        .expect_err("no such method");
    assert!(matches!(err, Error::MethodNotFound { .. }), "{err:?}");

    // The process keeps serving the methods it has.
    assert_eq!(calc.add(1, 2).await.expect("add"), 3);
}

#[tokio::test]
async fn each_id_reaches_its_own_method() {
    let pm = ProcessManager::new();
    let calc = pm.spawn::<Calculator>().await.expect("spawns");
    assert_eq!(calc.add(7, 2).await.expect("add"), 9);
    assert_eq!(calc.sub(7, 2).await.expect("sub"), 5);
    assert_eq!(calc.neg(7).await.expect("neg"), -7);
    assert_eq!(calc.zero().await.expect("zero"), 0);
    assert_eq!(calc.r#type().await.expect("type"), "calculator");

    let client = calc.client();
    let sub = client
        .call(request(method("sub"), Payload::value((10_i64, 4_i64))))
        .await
        .expect("sub by hand");
    assert_eq!(sub.payload.into_value::<i64>().expect("an i64"), 6);
}

#[tokio::test]
async fn a_moved_call_gets_a_moved_reply_and_an_encoded_call_an_encoded_one() {
    let pm = ProcessManager::new();
    let calc = pm.spawn::<Calculator>().await.expect("spawns");
    let client = calc.client();

    let moved = client
        .call(request(method("add"), Payload::value((1_i64, 1_i64))))
        .await
        .expect("moved call");
    assert!(!moved.payload.is_encoded());

    let encoded = client
        .call(request(
            method("add"),
            Payload::encode(&(1_i64, 1_i64)).expect("encodes"),
        ))
        .await
        .expect("encoded call");
    assert!(encoded.payload.is_encoded());
    assert_eq!(encoded.payload.into_value::<i64>().expect("decodes"), 2);
}

#[tokio::test]
async fn arguments_of_the_wrong_type_get_a_decode_error_and_the_process_keeps_serving() {
    let pm = ProcessManager::new();
    let calc = pm.spawn::<Calculator>().await.expect("spawns");
    let id = calc.process_id().expect("managed");
    let client = calc.client();

    let wrong_moved = client
        .call(request(
            method("add"),
            Payload::value("not a pair".to_string()),
        ))
        .await
        .expect_err("a String is not (i64, i64)");
    assert!(
        matches!(wrong_moved, Error::Decode { .. }),
        "{wrong_moved:?}"
    );

    let too_short = client
        .call(request(
            method("add"),
            Payload::encode(&(1_i64,)).expect("encodes"),
        ))
        .await
        .expect_err("one argument of two");
    assert!(matches!(too_short, Error::Decode { .. }), "{too_short:?}");

    assert_eq!(calc.add(2, 2).await.expect("still serving"), 4);
    assert_eq!(
        pm.get(id).expect("listed").status,
        titan_core::ProcessStatus::Running
    );
}

mod service_identity {
    use titan_core::prelude::*;
    use titan_core::{ErrorCode, MethodId, Payload, Request, ServiceDefinition};

    #[derive(Default)]
    pub struct Served;

    #[process(name = "served", version = "2.3.0")]
    impl Served {
        #[public]
        pub fn ping(&self) -> u8 {
            1
        }
    }

    fn request_for(service: &'static ServiceDefinition) -> Request {
        Request {
            service,
            method: &Served::DEFINITION.methods[0],
            payload: Payload::value(()),
            deadline: None,
            stream: None,
            key: None,
        }
    }

    static OTHER_NAME: ServiceDefinition = ServiceDefinition {
        name: "someone-else",
        version: "2.3.0",
        description: "",
        methods: &[],
    };
    static OLD_MAJOR: ServiceDefinition = ServiceDefinition {
        name: "served",
        version: "1.9.0",
        description: "",
        methods: &[],
    };
    static NEWER_MINOR: ServiceDefinition = ServiceDefinition {
        name: "served",
        version: "2.0.0",
        description: "",
        methods: &[],
    };

    #[tokio::test]
    async fn a_request_for_another_service_is_refused_by_name() {
        let pm = ProcessManager::new();
        let served = pm.spawn::<Served>().await.expect("spawns");
        let error = served
            .client()
            .call(request_for(&OTHER_NAME))
            .await
            .expect_err("another service");
        assert_eq!(error.code(), ErrorCode::ServiceNotFound);
    }

    #[tokio::test]
    async fn a_request_built_for_another_major_version_is_a_version_mismatch() {
        let pm = ProcessManager::new();
        let served = pm.spawn::<Served>().await.expect("spawns");
        match served.client().call(request_for(&OLD_MAJOR)).await {
            Err(titan_core::Error::VersionMismatch {
                expected, found, ..
            }) => {
                assert_eq!((expected.as_str(), found.as_str()), ("1.9.0", "2.3.0"));
            }
            other => panic!("expected a version mismatch, got {other:?}"),
        }
        // The same major version is compatible.
        let reply = served
            .client()
            .call(request_for(&NEWER_MINOR))
            .await
            .expect("same major version");
        assert_eq!(reply.payload.into_value::<u8>().expect("a u8"), 1);
        assert_eq!(MethodId::of("ping"), Served::DEFINITION.methods[0].id);
    }
}
