//! A minimal 3D vector in patient coordinates (millimetres): x patient-left, y posterior, z head.

use std::ops::{Add, Mul, Neg, Sub};

/// A point or direction in patient coordinates (mm).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct V3 {
    /// Patient-left.
    pub x: f32,
    /// Posterior.
    pub y: f32,
    /// Head (superior).
    pub z: f32,
}

/// Shorthand constructor.
pub const fn v3(x: f32, y: f32, z: f32) -> V3 {
    V3 { x, y, z }
}

impl V3 {
    /// Dot product.
    pub fn dot(self, o: V3) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    /// Cross product.
    pub fn cross(self, o: V3) -> V3 {
        v3(self.y * o.z - self.z * o.y, self.z * o.x - self.x * o.z, self.x * o.y - self.y * o.x)
    }
    /// Euclidean length.
    pub fn norm(self) -> f32 {
        self.dot(self).sqrt()
    }
    /// Unit vector in the same direction (the zero vector stays zero).
    pub fn unit(self) -> V3 {
        let n = self.norm();
        if n > 0.0 {
            self * (1.0 / n)
        } else {
            self
        }
    }
    /// The part of `self` orthogonal to the unit vector `u`, normalised.
    pub fn orthogonal_to(self, u: V3) -> V3 {
        (self - u * self.dot(u)).unit()
    }
    /// Rotation of `self` about the unit axis `k` by `angle` radians (Rodrigues).
    pub fn rotated(self, k: V3, angle: f32) -> V3 {
        let (s, c) = angle.sin_cos();
        self * c + k.cross(self) * s + k * (k.dot(self) * (1.0 - c))
    }
}

impl Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Mul<f32> for V3 {
    type Output = V3;
    fn mul(self, s: f32) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}

impl Neg for V3 {
    type Output = V3;
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_length_and_turns_x_to_y_about_z() {
        let r = v3(1.0, 0.0, 0.0).rotated(v3(0.0, 0.0, 1.0), std::f32::consts::FRAC_PI_2);
        assert!((r - v3(0.0, 1.0, 0.0)).norm() < 1e-6, "{r:?}");
        let p = v3(0.3, -2.0, 1.5);
        let q = p.rotated(v3(1.0, 2.0, -1.0).unit(), 0.7);
        assert!((p.norm() - q.norm()).abs() < 1e-5);
    }

    #[test]
    fn cross_is_right_handed() {
        assert_eq!(v3(1.0, 0.0, 0.0).cross(v3(0.0, 1.0, 0.0)), v3(0.0, 0.0, 1.0));
    }
}
