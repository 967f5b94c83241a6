// An argument type that is not `Serialize + Deserialize` is reported at that type.
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
    pub async fn plot(&self, point: Point) -> i64 {
        point.x + point.y
    }
}

fn main() {}
