//! `static:N`: a fixed reservation of N, held from the first second to the last.

use super::{Moment, Scaler};

pub struct Fixed(pub u32);

impl Scaler for Fixed {
    fn reservation(&mut self, _moment: &Moment) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_reservation_never_moves() {
        let mut fixed = Fixed(20);
        let moment = Moment {
            needed: 500,
            ..Moment::between_evaluations(60, 20)
        };
        assert_eq!(fixed.reservation(&moment), 20);
    }
}
