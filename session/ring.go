package session

// ring is the resume buffer: written counted messages in the order of their sequence
// numbers, taken from the front as the peer acknowledges them or the byte bound drops
// them, added at the back as they are written. A ring rather than a slice whose front is
// cut off: the slice's appends ran out of room as the window slid and copied it all to a
// new array, again and again (3-4 % of the echo benchmark's CPU, a reply being retained
// until the peer acknowledges it).
type ring struct {
	buf  []item
	head int // the index in buf of the oldest item
	n    int
}

func (r *ring) len() int { return r.n }

// at returns the i-th oldest item.
func (r *ring) at(i int) *item { return &r.buf[(r.head+i)%len(r.buf)] }

// push adds it at the back, doubling the room when it is full.
func (r *ring) push(it item) {
	if r.n == len(r.buf) {
		buf := make([]item, max(2*len(r.buf), 16))
		r.appendTo(buf[:0])
		r.buf, r.head = buf, 0
	}
	*r.at(r.n) = it
	r.n++
}

// pop removes the oldest item and returns it (r must not be empty).
func (r *ring) pop() item {
	p := &r.buf[r.head]
	it := *p
	*p = item{} // let the GC have the message
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return it
}

// appendTo appends the items, oldest first, to dst.
func (r *ring) appendTo(dst []item) []item {
	end := r.head + r.n
	if end <= len(r.buf) {
		return append(dst, r.buf[r.head:end]...)
	}
	dst = append(dst, r.buf[r.head:]...)
	return append(dst, r.buf[:end-len(r.buf)]...)
}
