// A result type that is not `Serialize + Deserialize` is reported at that type.
use titan_core::prelude::*;

pub struct Point {
    pub x: i64,
    pub y: i64,
}

#[derive(Default)]
pub struct Plotter;

#[process]
impl Plotter {
    #[public]
    pub async fn origin(&self) -> Point {
        Point { x: 0, y: 0 }
    }
}

fn main() {}
