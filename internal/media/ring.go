package media

// ring is a fixed-size FIFO of access units.
type ring struct {
	buf  []*AccessUnit
	head int // index of the oldest
	n    int
}

func (q *ring) full() bool { return q.n == len(q.buf) }

func (q *ring) push(au *AccessUnit) {
	q.buf[(q.head+q.n)%len(q.buf)] = au
	q.n++
}

func (q *ring) pop() *AccessUnit {
	if q.n == 0 {
		return nil
	}
	au := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return au
}

func (q *ring) clear() {
	for q.pop() != nil {
	}
	q.head = 0
}
