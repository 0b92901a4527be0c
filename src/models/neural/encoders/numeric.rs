//! `numeric`: a side's numeric columns, standardised on the training rows, one column each.

use super::{Build, Encoder, EncoderKind, Input, Rows};
use crate::nn::{InputBuilder, ParamStore};
use anyhow::Result;

pub static KIND: EncoderKind = EncoderKind { name: "numeric", about: "numeric columns, standardised (missing values are 0)", build };

fn build<'a>(input: &Input<'a>, b: &mut Build) -> Option<Result<Box<dyn Encoder + 'a>>> {
    let Input::Numeric(cols) = input else { return None };
    let cols = cols
        .iter()
        .map(|&(_, values)| {
            // Standardise on the rows present in the training split.
            let vals: Vec<f64> = values.iter().zip(b.present).filter(|(v, &p)| p && v.is_finite()).map(|(v, _)| *v as f64).collect();
            let n = vals.len().max(1) as f64;
            let mean = vals.iter().sum::<f64>() / n;
            let sd = (vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
            let sd = if sd > 1e-12 { sd } else { 1.0 };
            (values, mean as f32, sd as f32)
        })
        .collect();
    Some(Ok(Box::new(Numeric { cols })))
}

pub struct Numeric<'a> {
    /// (values, mean, standard deviation) per column.
    cols: Vec<(&'a [f32], f32, f32)>,
}

impl Numeric<'_> {
    /// The standardised value of row `i` in column `c` (0 when missing).
    pub fn value(&self, c: usize, i: u32) -> f32 {
        let (vals, mean, sd) = self.cols[c];
        let x = vals[i as usize];
        if x.is_finite() {
            (x - mean) / sd
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
                v[r * k + c] = self.value(c, i);
            }
        }
        input.dense(k, v);
    }
}
