// A `#[key]` argument must be `Hash`; a type that is not is reported once, at that type.
use serde::{Deserialize, Serialize};
use titan_core::prelude::*;

#[derive(Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

#[derive(Default)]
pub struct Maps;

#[process]
impl Maps {
    #[public]
    async fn nearest(&self, #[key] at: Point) -> f64 {
        at.x + at.y
    }
}

fn main() {}
