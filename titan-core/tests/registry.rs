//! Every `#[process]` in a binary is listed by `titan_core::registry()` with its
//! full definition, found by name with `lookup`, and can be started from a
//! postcard-encoded config and called with postcard-encoded arguments: what a
//! child OS process does when its parent asks it to host a type.

use titan_core::prelude::*;
use titan_core::{MethodId, Payload, Receiver, Request, ServiceDefinition};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Settings {
    greeting: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum GreetError {
    Nameless,
}

struct Greeter {
    greeting: String,
}

/// Greets people.
#[process(name = "registry-greeter", version = "2.3.1")]
impl Greeter {
    #[init]
    async fn new(settings: Settings) -> Result<Self, String> {
        if settings.greeting.is_empty() {
            return Err("the greeting is empty".into());
        }
        Ok(Greeter {
            greeting: settings.greeting,
        })
    }

    /// Greets `name`, `times` times.
    #[public]
    async fn greet(&self, name: String, times: u32) -> String {
        vec![format!("{}, {name}!", self.greeting); times as usize].join(" ")
    }

    /// Counts the letters of a name; a name must not be empty.
    #[public]
    fn letters(&self, name: String, extra: Vec<Option<u8>>) -> Result<u32, GreetError> {
        if name.is_empty() {
            return Err(GreetError::Nameless);
        }
        Ok(name.chars().count() as u32 + extra.len() as u32)
    }

    #[public]
    async fn set_greeting(&mut self, greeting: String) {
        self.greeting = greeting;
    }
}

/// Sorts before `registry-greeter`, though it is written after it.
#[derive(Default)]
struct Aardvark;

#[process(description = "Digs.")]
impl Aardvark {
    #[public]
    fn dig(&self) -> u8 {
        1
    }
}

fn greeter_definition() -> &'static ServiceDefinition {
    titan_core::lookup("registry-greeter")
        .expect("registered")
        .definition
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("encodes")
}

/// Starts a greeter through its registration, as a child process host would.
async fn start_greeter(pm: &ProcessManager, greeting: &str) -> Result<Client, Error> {
    let config = encode(&Settings {
        greeting: greeting.into(),
    });
    titan_core::lookup("registry-greeter")
        .expect("registered")
        .start(pm, config)
        .await
}

fn encoded_request(method: &str, args: &impl serde::Serialize) -> Request {
    let service = greeter_definition();
    Request {
        service,
        method: service.method(method).expect("the method exists"),
        payload: Payload::encode(args).expect("encodes"),
        deadline: None,
        stream: None,
        key: None,
    }
}

#[test]
fn the_registry_lists_every_process_type_sorted_by_name() {
    let listed: Vec<String> = titan_core::registry()
        .map(|r| r.definition.to_string())
        .collect();
    assert_eq!(listed, ["aardvark@0.1.0", "registry-greeter@2.3.1"]);

    let aardvark = titan_core::registry()
        .next()
        .expect("at least one registration");
    assert_eq!(aardvark.definition.description, "Digs.");
    assert!(aardvark.type_name.contains("Aardvark"), "{aardvark:?}");
}

#[test]
fn a_registered_definition_describes_every_method() {
    let def = greeter_definition();
    assert_eq!((def.name, def.version), ("registry-greeter", "2.3.1"));
    assert_eq!(def.description, "Greets people.");

    let names: Vec<&str> = def.methods.iter().map(|m| m.name).collect();
    assert_eq!(names, ["greet", "letters", "set_greeting"]);

    let greet = def.method("greet").expect("greet");
    let args: Vec<(&str, &str)> = greet.args.iter().map(|a| (a.name, a.ty)).collect();
    assert_eq!(args, [("name", "String"), ("times", "u32")]);
    assert_eq!(greet.result, "String");
    assert_eq!(greet.error, None);
    assert_eq!(greet.receiver, Receiver::Shared);
    assert_eq!(greet.docs, "Greets `name`, `times` times.");

    let letters = def.method("letters").expect("letters");
    let args: Vec<(&str, &str)> = letters.args.iter().map(|a| (a.name, a.ty)).collect();
    assert_eq!(args, [("name", "String"), ("extra", "Vec<Option<u8>>")]);
    assert_eq!(letters.result, "u32");
    assert_eq!(letters.error, Some("GreetError"));
    assert_eq!(letters.receiver, Receiver::Shared);

    let set = def.method("set_greeting").expect("set_greeting");
    assert_eq!(set.result, "()");
    assert_eq!(set.error, None);
    assert_eq!(set.receiver, Receiver::Exclusive);
    assert_eq!(set.docs, "");

    assert_eq!(def.method_by_id(MethodId::of("letters")), Some(letters));
    assert!(def.method("nope").is_none());
}

#[test]
fn the_registered_definition_is_the_process_definition() {
    assert_eq!(greeter_definition(), Greeter::DEFINITION);
    assert_eq!(Greeter::NAME, "registry-greeter");
    assert_eq!(Greeter::VERSION, "2.3.1");
}

#[test]
fn lookup_finds_a_process_type_by_name_only() {
    let found = titan_core::lookup("aardvark").expect("registered");
    assert_eq!(found.definition.name, "aardvark");
    assert!(titan_core::lookup("registry-greeter@2.3.1").is_none());
    assert!(titan_core::lookup("no-such-service").is_none());
}

#[tokio::test]
async fn a_registration_starts_from_an_encoded_config_and_serves_encoded_calls() {
    let pm = ProcessManager::new();
    let client = start_greeter(&pm, "Hello").await.expect("starts");

    let id = client.process_id().expect("a managed process");
    let info = pm.get(id).expect("listed in the manager");
    assert_eq!((info.name, info.version), ("registry-greeter", "2.3.1"));

    let response = client
        .call(encoded_request("greet", &("Ada".to_string(), 2_u32)))
        .await
        .expect("the call succeeds");
    let bytes = match response.payload {
        Payload::Encoded(bytes) => bytes,
        Payload::Value(moved) => panic!("an encoded call got a moved reply: {}", moved.type_name()),
    };
    let reply: String = postcard::from_bytes(&bytes).expect("the reply decodes");
    assert_eq!(reply, "Hello, Ada! Hello, Ada!");
}

#[tokio::test]
async fn an_encoded_call_to_a_fallible_method_replies_with_the_encoded_result() {
    let pm = ProcessManager::new();
    let client = start_greeter(&pm, "Hi").await.expect("starts");

    let ok = client
        .call(encoded_request(
            "letters",
            &("Ada".to_string(), vec![Some(1_u8), None]),
        ))
        .await
        .expect("call succeeds");
    assert!(ok.payload.is_encoded());
    let ok: Result<u32, GreetError> = ok.payload.into_value().expect("decodes");
    assert_eq!(ok, Ok(5));

    let err = client
        .call(encoded_request(
            "letters",
            &(String::new(), Vec::<Option<u8>>::new()),
        ))
        .await
        .expect("an application error is still a reply");
    let err: Result<u32, GreetError> = err.payload.into_value().expect("decodes");
    assert_eq!(err, Err(GreetError::Nameless));

    // An exclusive method with a unit result, then its effect.
    let unit = client
        .call(encoded_request("set_greeting", &("Yo".to_string(),)))
        .await
        .expect("call succeeds");
    unit.payload.into_value::<()>().expect("unit decodes");
    let greeting = client
        .call(encoded_request("greet", &("Bo".to_string(), 1_u32)))
        .await
        .expect("call succeeds")
        .payload
        .into_value::<String>()
        .expect("decodes");
    assert_eq!(greeting, "Yo, Bo!");
}

#[tokio::test]
async fn a_started_client_fits_the_typed_proxy() {
    let pm = ProcessManager::new();
    let client = start_greeter(&pm, "Hey").await.expect("starts");
    let proxy = GreeterProxy::from_client(client);
    assert_eq!(
        proxy.greet("Cy".into(), 1).await.expect("typed call"),
        "Hey, Cy!"
    );
}

#[tokio::test]
async fn undecodable_encoded_arguments_fail_the_call_and_the_process_keeps_serving() {
    let pm = ProcessManager::new();
    let client = start_greeter(&pm, "Hello").await.expect("starts");
    let service = greeter_definition();

    let garbage = Request {
        service,
        method: service.method("greet").expect("greet"),
        payload: Payload::Encoded(bytes::Bytes::from_static(&[0xff; 8])),
        deadline: None,
        stream: None,
        key: None,
    };
    let err = client.call(garbage).await.expect_err("garbage arguments");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");

    let reply = client
        .call(encoded_request("greet", &("Ada".to_string(), 1_u32)))
        .await
        .expect("still serving")
        .payload
        .into_value::<String>()
        .expect("decodes");
    assert_eq!(reply, "Hello, Ada!");
}

#[tokio::test]
async fn a_config_that_does_not_decode_is_a_decode_error_and_spawns_nothing() {
    let pm = ProcessManager::new();
    let registration = titan_core::lookup("registry-greeter").expect("registered");

    let err = registration
        .start(&pm, vec![0xff, 0xff, 0xff])
        .await
        .expect_err("not a Settings");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("registry-greeter"), "{err}");
    assert!(pm.list().is_empty());
}

#[tokio::test]
async fn an_init_error_through_a_registration_is_an_init_error() {
    let pm = ProcessManager::new();
    let err = start_greeter(&pm, "")
        .await
        .expect_err("an empty greeting is refused");
    match err {
        Error::Init { process, reason } => {
            assert_eq!(process, "registry-greeter");
            assert_eq!(reason, "the greeting is empty");
        }
        other => panic!("expected Error::Init, got {other:?}"),
    }
    assert!(pm.list().is_empty());
}

#[tokio::test]
async fn a_registration_with_a_unit_config_starts_from_its_encoding() {
    let pm = ProcessManager::new();
    let registration = titan_core::lookup("aardvark").expect("registered");
    let client = registration.start(&pm, encode(&())).await.expect("starts");
    let service = registration.definition;
    let reply = client
        .call(Request {
            service,
            method: service.method("dig").expect("dig"),
            payload: Payload::encode(&()).expect("encodes"),
            deadline: None,
            stream: None,
            key: None,
        })
        .await
        .expect("call succeeds");
    assert_eq!(reply.payload.into_value::<u8>().expect("decodes"), 1);
}
