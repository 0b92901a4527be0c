//! `numeric`: a side's numeric columns and vector columns (e.g. the tag genome), each
//! dimension standardised on the training rows and given one input column.

use super::{Build, Encoder, EncoderKind, Given, GivenValue, Input, Rows};
use crate::nn::{InputBuilder, ParamStore};
use anyhow::Result;

pub static KIND: EncoderKind = EncoderKind { name: "numeric", about: "numeric columns, standardised (missing values are 0)", build };

fn build<'a>(input: &Input<'a>, b: &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>> {
    let Input::Numeric(inputs) = input else { return None };
    let mut cols = Vec::new();
    for &(name, values, dim) in inputs {
        for offset in 0..dim {
            // Standardise on the rows present in the training split.
            let at = |r: usize| values[r * dim + offset];
            let vals: Vec<f64> = (0..b.present.len()).filter(|&r| b.present[r] && at(r).is_finite()).map(|r| at(r) as f64).collect();
            let n = vals.len().max(1) as f64;
            let mean = vals.iter().sum::<f64>() / n;
            let sd = (vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
            let sd = if sd > 1e-12 { sd } else { 1.0 };
            cols.push(Col { name, values, stride: dim, offset, mean: mean as f32, sd: sd as f32 });
        }
    }
    Some(Ok(Box::new(Numeric { cols })))
}

/// One input column: dimension `offset` of rows `stride` numbers wide.
struct Col<'a> {
    name: &'a str,
    values: &'a [f32],
    stride: usize,
    offset: usize,
    mean: f32,
    sd: f32,
}

pub struct Numeric<'a> {
    cols: Vec<Col<'a>>,
}

impl Numeric<'_> {
    /// The standardised value of row `i` in column `c` (0 when missing), or of the value
    /// given for the column.
    pub fn value(&self, c: usize, i: u32, given: Option<&Given>) -> f32 {
        let col = &self.cols[c];
        let x = match Given::get(given, col.name) {
            Some(GivenValue::Numbers(v)) => v.get(col.offset).copied().unwrap_or(f32::NAN),
            _ => col.values[i as usize * col.stride + col.offset],
        };
        if x.is_finite() {
            (x - col.mean) / col.sd
        } else {
            0.0
        }
    }
}

impl Encoder for Numeric<'_> {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn width(&self) -> usize {
        self.cols.len()
    }

    fn push(&self, _store: &ParamStore, rows: &Rows, input: &mut InputBuilder) {
        let k = self.cols.len();
        let mut v = vec![0.0f32; rows.ids.len() * k];
        for (r, &i) in rows.ids.iter().enumerate() {
            for c in 0..k {
                v[r * k + c] = self.value(c, i, rows.given);
            }
        }
        input.dense(k, v);
    }
}
