//! What an experiment trains on: plaintext splits held by the owner, and the task.

use crate::{Error, Result};
use moreml_cipher::{Domain, Float, PlainTensor};
use serde::{Deserialize, Serialize};

/// What the network predicts, and how it is scored.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// One-hot targets over named classes; softmax cross-entropy; accuracy, confusion.
    Classification {
        /// Class names, in target-column order.
        classes: Vec<String>,
    },
    /// Standardised continuous targets; MSE; per-output MAE, relative error, R^2 in the
    /// outputs' own units.
    Regression {
        /// Output names, in target-column order.
        outputs: Vec<String>,
        /// The owner's target standardisation (from the training split).
        scaling: Standardizer,
    },
}

/// Per-column `(x - mean) / std`, fitted on a training split by the owner before encryption.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column means.
    pub mean: Vec<f64>,
    /// Column standard deviations (1 for constant columns).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits on `[n, k]` row-major values.
    pub fn fit(values: &[f64], k: usize) -> Result<Self> {
        let n = values.len() / k.max(1);
        if n < 2 || values.len() != n * k {
            return Err(Error::Data(format!("cannot standardise {} values as [n, {k}] with n >= 2", values.len())));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Data(format!("non-finite value at row {}, column {}", i / k, i % k)));
        }
        let mut mean = vec![0.0; k];
        for row in values.chunks_exact(k) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v / n as f64);
        }
        let mut var = vec![0.0; k];
        for row in values.chunks_exact(k) {
            var.iter_mut().zip(row).zip(&mean).for_each(|((s, v), m)| *s += (v - m).powi(2) / (n - 1) as f64);
        }
        let std = var.into_iter().map(|v| if v > 0.0 { v.sqrt() } else { 1.0 }).collect();
        Ok(Self { mean, std })
    }

    /// `(x - mean) / std` per column.
    pub fn apply(&self, values: &[f64]) -> Vec<f64> {
        let k = self.mean.len();
        values.iter().enumerate().map(|(i, v)| (v - self.mean[i % k]) / self.std[i % k]).collect()
    }

    /// `x * std + mean` per column.
    pub fn invert(&self, values: &[f64]) -> Vec<f64> {
        let k = self.mean.len();
        values.iter().enumerate().map(|(i, v)| v * self.std[i % k] + self.mean[i % k]).collect()
    }
}

/// One split: inputs `[n, features]` and targets `[n, outputs]`, in the model's scalar.
#[derive(Clone, Debug)]
pub struct Split<T: Float> {
    /// Inputs as the model sees them (already normalised by the owner).
    pub inputs: PlainTensor<T>,
    /// Targets as the model sees them (one-hot, or standardised).
    pub targets: PlainTensor<T>,
}

impl<T: Float> Split<T> {
    /// A split from row-major `f64` values (converted to `T`), checking the shapes agree.
    pub fn new(inputs: Vec<f64>, features: usize, targets: Vec<f64>, outputs: usize) -> Result<Self> {
        let n = inputs.len() / features.max(1);
        if n == 0 || inputs.len() != n * features || targets.len() != n * outputs {
            return Err(Error::Data(format!(
                "{} input values and {} target values are not [n, {features}] and [n, {outputs}] with the same n > 0",
                inputs.len(),
                targets.len()
            )));
        }
        let cast = |v: Vec<f64>| v.into_iter().map(T::of).collect();
        Ok(Self {
            inputs: PlainTensor::from_vec(&[n, features], cast(inputs))?,
            targets: PlainTensor::from_vec(&[n, outputs], cast(targets))?,
        })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.inputs.shape()[0]
    }

    /// Whether the split has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A whole experiment's data, as the owner holds it before encryption.
#[derive(Clone, Debug)]
pub struct Dataset<T: Float> {
    /// Short name (`mnist`, `wbc`, `angio-view`).
    pub name: String,
    /// One line on where the data come from.
    pub source: String,
    /// Training split.
    pub train: Split<T>,
    /// Held-out test split.
    pub test: Split<T>,
    /// The task.
    pub task: Task,
}

impl<T: Float> Dataset<T> {
    /// Values per input record.
    pub fn features(&self) -> usize {
        self.train.inputs.shape()[1]
    }

    /// Values per target record.
    pub fn outputs(&self) -> usize {
        self.train.targets.shape()[1]
    }

    /// The true class of every test record (classification), from the one-hot targets.
    pub fn test_classes(&self) -> Vec<usize> {
        let k = self.outputs();
        let v: Vec<f64> = self.test.targets.values().iter().map(|x| x.f64()).collect();
        crate::metrics::argmax_rows(&v, k).into_iter().map(|c| c.unwrap_or(0)).collect()
    }
}
