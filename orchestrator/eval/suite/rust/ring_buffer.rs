//! A fixed-capacity ring buffer that keeps the most recent samples of a sensor.

pub struct RingBuffer<T> {
    slots: Vec<Option<T>>,
    next: usize,
    len: usize,
}

impl<T: Clone> RingBuffer<T> {
    pub fn with_capacity(capacity: usize) -> Self {
        assert!(capacity > 0, "a ring buffer needs room for at least one value");
        RingBuffer { slots: vec![None; capacity], next: 0, len: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores a value, overwriting the oldest one when the buffer is full.
    pub fn push(&mut self, value: T) {
        self.slots[self.next] = Some(value);
        self.next += 1;
        if self.next > self.slots.len() {
            self.next = 0;
        }
        if self.len < self.slots.len() {
            self.len += 1;
        }
    }

    /// The values held, oldest first.
    pub fn to_vec(&self) -> Vec<T> {
        let capacity = self.slots.len();
        let start = (self.next + capacity - self.len) % capacity;
        (0..self.len)
            .filter_map(|i| self.slots[(start + i) % capacity].clone())
            .collect()
    }

    /// The most recent value, if any.
    pub fn latest(&self) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        let capacity = self.slots.len();
        self.slots[(self.next + capacity - 1) % capacity].as_ref()
    }
}
