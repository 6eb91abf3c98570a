//! Recycled tensor storage: the buffers of dropped tensors are kept for the next tensor of the
//! same length, so a training step, which builds the same tensors every step, runs without
//! allocating, zeroing or page-faulting in the steady state.
//!
//! A recycled buffer holds the old values of some dropped tensor (initialised memory, never
//! uninitialised), so it may only back a result whose every element the kernel writes
//! ([`crate::planes::Planes::for_overwrite`]); results built by accumulation start from
//! [`crate::planes::Planes::zeros`].

use crate::Float;
use std::any::Any;
use std::sync::Mutex;

/// Buffers shorter than this are not kept (the allocator serves them cheaply).
const MIN_LEN: usize = 1 << 12;
/// At most this many buffers are kept per scalar type, the oldest dropped first (an encrypted
/// CNN step cycles through ~60 buffers of this size; with 48 the oldest were evicted before
/// their next use).
const MAX_BUFFERS: usize = 256;
/// At most this many bytes are kept per scalar type.
const MAX_BYTES: usize = 256 << 20;

/// The free buffers of one scalar type, oldest first.
type FreeList<T> = Mutex<Vec<Vec<T>>>;

/// The free list of `T` (`None` for a scalar type without one).
fn free_list<T: Float>() -> Option<&'static FreeList<T>> {
    static F32: FreeList<f32> = Mutex::new(Vec::new());
    static F64: FreeList<f64> = Mutex::new(Vec::new());
    let lists: [&'static (dyn Any + Send + Sync); 2] = [&F32, &F64];
    lists.into_iter().find_map(|l| l.downcast_ref::<FreeList<T>>())
}

/// A buffer of exactly `len` values with unspecified (old) contents: a recycled one when
/// available, else a fresh zeroed one.
pub(crate) fn take<T: Float>(len: usize) -> Vec<T> {
    if len >= MIN_LEN {
        if let Some(list) = free_list::<T>() {
            let mut free = list.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = free.iter().rposition(|b| b.len() == len) {
                return free.swap_remove(i);
            }
        }
    }
    vec![T::zero(); len]
}

/// Keeps `buf` for a later [`take`] of the same length.
pub(crate) fn give<T: Float>(buf: Vec<T>) {
    if buf.len() < MIN_LEN {
        return;
    }
    let Some(list) = free_list::<T>() else { return };
    let mut free = list.lock().unwrap_or_else(|e| e.into_inner());
    free.push(buf);
    let bytes = |free: &Vec<Vec<T>>| free.iter().map(|b| b.capacity()).sum::<usize>() * std::mem::size_of::<T>();
    while free.len() > MAX_BUFFERS || bytes(&free) > MAX_BYTES {
        free.remove(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_dropped_buffer_serves_the_next_request_of_its_length() {
        let buf = vec![1.5f64; 5000];
        let ptr = buf.as_ptr();
        super::give(buf);
        let again = super::take::<f64>(5000);
        assert_eq!((again.as_ptr(), again.len()), (ptr, 5000));
        assert_eq!(super::take::<f32>(4096).len(), 4096);
        assert_eq!(super::take::<f64>(10), vec![0.0; 10]);
    }

    #[test]
    fn recycled_values_never_show_through() {
        use crate::{CipherTensor, Domain, PlainTensor};
        let n = 8192;
        // Poison the pool with NaN buffers of every length the results below take.
        for len in [n, 2 * n] {
            for _ in 0..4 {
                super::give(vec![f64::NAN; len]);
            }
        }
        let zero = |v: &[f64]| v.iter().all(|&x| x == 0.0);
        assert!(zero(PlainTensor::<f64>::zeros(&[n, 0]).sum_last().values()));
        let (p, d) = PlainTensor::<f64>::zeros(&[n]).add_scalar(1.0).polynomial(&[], Some(&[]));
        assert!(zero(p.values()) && zero(d.expect("asked for").values()));
        let (p, _) = CipherTensor::<f64>::zeros(&[n]).add_scalar(1.0).polynomial(&[], None);
        assert!(zero(p.coords()));
        let e = PlainTensor::<f64>::zeros(&[64, 0]).matmul(false, &PlainTensor::zeros(&[0, 128]), false);
        assert!(zero(e.values()));
        let e = CipherTensor::<f64>::zeros(&[64, 0]).matmul(false, &CipherTensor::zeros(&[0, 64]), false);
        assert!(zero(e.coords()));
    }
}
