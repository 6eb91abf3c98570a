//! Where training and prediction read records from: tensors in memory or a memory-mapped file.
//!
//! The [`Learner`](crate::Learner) never holds a whole data set itself: each step asks a
//! [`Records`] source for the rows of one mini-batch. In-memory tensors gather rows from
//! memory; a [`MappedFile`](moreml_cipher::mapped::MappedFile) copies them out of the map, so a
//! data set larger than memory trains with bounded resident memory.
//!
//! ```
//! use moreml_cipher::prelude::*;
//! use moreml_nn::records::{Pair, Records};
//! let x = PlainTensor::<f64>::from_vec(&[3, 1], vec![1., 2., 3.]).unwrap();
//! let t = PlainTensor::<f64>::from_vec(&[3, 1], vec![10., 20., 30.]).unwrap();
//! let data = Pair::new(&x, &t).unwrap();
//! let (bx, bt) = data.gather(&[2, 0]).unwrap();
//! assert_eq!((bx.values(), bt.values()), (&[3., 1.][..], &[30., 10.][..]));
//! ```

use crate::model::Model;
use crate::{Error, Result};
use moreml_cipher::mapped::{MappedCipher, MappedPlain};
use moreml_cipher::{CipherTensor, Domain, Float, PlainTensor};

/// One tensor's records (rows along the first axis), gathered by index.
pub trait Rows<D: Domain> {
    /// Number of records.
    fn len(&self) -> usize;
    /// Whether there are no records.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Records `idx`, in that order, as one tensor `[idx.len(), ...]`.
    fn gather(&self, idx: &[usize]) -> Result<D>;
}

/// Input/target pairs of a training set, gathered one mini-batch at a time.
pub trait Records<D: Domain> {
    /// Number of records.
    fn len(&self) -> usize;
    /// Whether there are no records.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The inputs and targets of records `idx`, in that order.
    fn gather(&self, idx: &[usize]) -> Result<(D, D)>;
}

/// Checks that record indices are in range (in-memory gathers index without checking).
fn check_indices(idx: &[usize], rows: usize) -> Result<()> {
    match idx.iter().find(|&&i| i >= rows) {
        Some(i) => Err(Error::Data(format!("record {i} does not exist (the data have {rows} records)"))),
        None => Ok(()),
    }
}

macro_rules! in_memory_rows {
    ($($t:ident),*) => {$(
        impl<T: Float> Rows<$t<T>> for $t<T> {
            fn len(&self) -> usize {
                self.shape().first().copied().unwrap_or(0)
            }
            fn gather(&self, idx: &[usize]) -> Result<$t<T>> {
                check_indices(idx, Rows::len(self))?;
                Ok(self.gather_rows(idx))
            }
        }
    )*};
}
in_memory_rows!(PlainTensor, CipherTensor);

impl<T: Float> Rows<PlainTensor<T>> for MappedPlain<T> {
    fn len(&self) -> usize {
        MappedPlain::len(self)
    }
    fn gather(&self, idx: &[usize]) -> Result<PlainTensor<T>> {
        Ok(MappedPlain::gather(self, idx)?)
    }
}

impl<T: Float> Rows<CipherTensor<T>> for MappedCipher<T> {
    fn len(&self) -> usize {
        MappedCipher::len(self)
    }
    fn gather(&self, idx: &[usize]) -> Result<CipherTensor<T>> {
        Ok(MappedCipher::gather(self, idx)?)
    }
}

/// An input and a target source with the same number of records: the usual training set.
pub struct Pair<'a, X: ?Sized, T: ?Sized> {
    inputs: &'a X,
    targets: &'a T,
}

impl<'a, X: ?Sized, T: ?Sized> Pair<'a, X, T> {
    /// Pairs `inputs` with `targets`; they must hold the same number of records.
    pub fn new<D: Domain>(inputs: &'a X, targets: &'a T) -> Result<Self>
    where
        X: Rows<D>,
        T: Rows<D>,
    {
        let (n, m) = (inputs.len(), targets.len());
        if n != m {
            return Err(Error::Data(format!("{n} input records but {m} target records")));
        }
        Ok(Self { inputs, targets })
    }
}

impl<D: Domain, X: Rows<D> + ?Sized, T: Rows<D> + ?Sized> Records<D> for Pair<'_, X, T> {
    fn len(&self) -> usize {
        self.inputs.len()
    }
    fn gather(&self, idx: &[usize]) -> Result<(D, D)> {
        Ok((self.inputs.gather(idx)?, self.targets.gather(idx)?))
    }
}

/// Outputs of `model` on every record of `inputs`, `batch` records per forward pass, in
/// record order. Only one batch of inputs is in memory at a time.
pub fn predict<D: Domain, R: Rows<D> + ?Sized>(model: &mut Model<D>, inputs: &R, batch: usize) -> Result<D> {
    predict_with(model, inputs.len(), batch, |idx| inputs.gather(idx))
}

/// The prediction loop over `n` records, with `gather` fetching each batch.
pub(crate) fn predict_with<D: Domain>(
    model: &mut Model<D>,
    n: usize,
    batch: usize,
    mut gather: impl FnMut(&[usize]) -> Result<D>,
) -> Result<D> {
    let batch = batch.max(1);
    let mut parts = Vec::with_capacity(n.div_ceil(batch));
    for start in (0..n).step_by(batch) {
        let idx: Vec<usize> = (start..(start + batch).min(n)).collect();
        parts.push(model.forward(gather(&idx)?, false)?);
    }
    if parts.is_empty() {
        return Err(Error::Data("no records to predict".into()));
    }
    Ok(D::concat_rows(&parts.iter().collect::<Vec<_>>()))
}
