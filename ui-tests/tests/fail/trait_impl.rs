// `#[process]` on a trait impl (`impl Trait for X`) is rejected: it goes on the inherent impl.
use titan_core::prelude::*;

pub trait Adder {
    fn add(&self, a: i64, b: i64) -> i64;
}

#[derive(Default)]
pub struct Calculator;

#[process]
impl Adder for Calculator {
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn main() {}
