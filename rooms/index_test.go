package rooms

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

type member struct{ id int }

func TestIndexJoinLeave(t *testing.T) {
	x := NewIndex[*member]()
	a, b := &member{1}, &member{2}

	if added, created := x.Join("r", a); !added || !created {
		t.Fatalf("first join: added=%v created=%v, want true true", added, created)
	}
	if added, created := x.Join("r", a); added || created {
		t.Fatalf("repeated join: added=%v created=%v, want false false", added, created)
	}
	if added, created := x.Join("r", b); !added || created {
		t.Fatalf("second member: added=%v created=%v, want true false", added, created)
	}
	x.Join("s", a)
	if got := x.Count("r"); got != 2 {
		t.Fatalf("Count(r) = %d, want 2", got)
	}
	if got := x.Rooms(); !slices.Equal(got, []string{"r", "s"}) {
		t.Fatalf("Rooms() = %v", got)
	}
	if got := x.RoomsOf(a); !slices.Equal(got, []string{"r", "s"}) {
		t.Fatalf("RoomsOf(a) = %v", got)
	}
	if !x.Has("r", b) || x.Has("s", b) {
		t.Fatal("Has is wrong")
	}
	if removed, emptied := x.Leave("s", b); removed || emptied {
		t.Fatalf("leave of a non-member: removed=%v emptied=%v", removed, emptied)
	}
	if removed, emptied := x.Leave("r", a); !removed || emptied {
		t.Fatalf("leave r by a: removed=%v emptied=%v, want true false", removed, emptied)
	}
	if got := x.Members("r"); !slices.Equal(got, []*member{b}) {
		t.Fatalf("Members(r) = %v", got)
	}
	if removed, emptied := x.Leave("r", b); !removed || !emptied {
		t.Fatalf("last leave: removed=%v emptied=%v, want true true", removed, emptied)
	}
	if x.Members("r") != nil || x.Count("r") != 0 || x.Len() != 1 {
		t.Fatalf("room r still present: %v %d %d", x.Members("r"), x.Count("r"), x.Len())
	}
	if got := x.LeaveAll(a); !slices.Equal(got, []string{"s"}) {
		t.Fatalf("LeaveAll(a) = %v, want [s]", got)
	}
	if x.Len() != 0 || x.RoomsOf(a) != nil || x.LeaveAll(a) != nil {
		t.Fatal("index not empty after LeaveAll")
	}
}

func TestIndexEachVisitsOnce(t *testing.T) {
	x := NewIndex[*member]()
	ms := make([]*member, 10)
	for i := range ms {
		ms[i] = &member{i}
		if i < 6 {
			x.Join("a", ms[i]) // 0..5
		}
		if i >= 4 {
			x.Join("b", ms[i]) // 4..9: 4 and 5 are in both
		}
	}
	for _, tc := range []struct {
		rooms []string
		want  []int
	}{
		{nil, nil},
		{[]string{"none"}, nil},
		{[]string{"a"}, []int{0, 1, 2, 3, 4, 5}},
		{[]string{"a", "b"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{[]string{"b", "a", "b", "none"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		// more than maxUnion rooms: the seen-set path
		{[]string{"a", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "a", "b"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	} {
		var got []int
		n := x.Each(tc.rooms, func(m *member) { got = append(got, m.id) })
		slices.Sort(got)
		if !slices.Equal(got, tc.want) || n != len(tc.want) {
			t.Errorf("Each(%q) visited %v (n=%d), want %v", tc.rooms, got, n, tc.want)
		}
	}
}

func TestIndexEachCallbackMayUseIndex(t *testing.T) {
	x := NewIndex[*member]()
	for i := range 100 {
		x.Join("r", &member{i})
	}
	// fn runs with no lock held: leaving from inside Each must not deadlock.
	n := x.Each([]string{"r"}, func(m *member) { x.Leave("r", m) })
	if n != 100 || x.Count("r") != 0 {
		t.Fatalf("visited %d, left %d", n, x.Count("r"))
	}
}

func TestIndexEachAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items on purpose under -race")
	}
	x := NewIndex[*member]()
	for i := range 1000 {
		m := &member{i}
		x.Join("one", m)
		x.Join("two", m)
	}
	rooms := []string{"one"}
	sum := 0
	fn := func(m *member) { sum += m.id }
	x.Each(rooms, fn) // warm the pool
	if a := testing.AllocsPerRun(100, func() { x.Each(rooms, fn) }); a > 0 {
		t.Errorf("Each over one room: %.1f allocs per call, want 0", a)
	}
	two := []string{"one", "two"}
	x.Each(two, fn)
	if a := testing.AllocsPerRun(100, func() { x.Each(two, fn) }); a > 0.5 {
		t.Errorf("Each over two rooms: %.1f allocs per call, want 0", a)
	}
}

// TestIndexChurn has 10,000 members join and leave 100 rooms from 8 goroutines while others
// broadcast with Each and read counts, then checks that both sides of the index agree and
// that every room's created/emptied reports balance. Run it with -race.
func TestIndexChurn(t *testing.T) {
	const (
		nMembers = 10000
		nRooms   = 100
		workers  = 8
	)
	if testing.Short() {
		t.Skip("-short")
	}
	x := NewIndex[*member]()
	members := make([]*member, nMembers)
	for i := range members {
		members[i] = &member{i}
	}
	roomNames := make([]string, nRooms)
	for i := range roomNames {
		roomNames[i] = fmt.Sprintf("room-%d", i)
	}
	// created[r] - emptied[r] must end as 1 if r exists, else 0.
	var balance [nRooms]atomic.Int64
	roomIdx := make(map[string]int, nRooms)
	for i, r := range roomNames {
		roomIdx[r] = i
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var visits atomic.Int64
	for i := range 2 {
		readers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			seen := make(map[*member]bool)
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond): // a broadcast every ms per reader
				}
				a, b := roomNames[rng.IntN(nRooms)], roomNames[rng.IntN(nRooms)]
				clear(seen)
				x.Each([]string{a, b}, func(m *member) {
					if seen[m] {
						t.Errorf("member %d visited twice", m.id)
					}
					seen[m] = true
				})
				visits.Add(int64(len(seen)))
				_ = x.Count(a)
				_ = x.Len()
			}
		})
	}

	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			mine := members[w*nMembers/workers : (w+1)*nMembers/workers]
			for _, m := range mine { // everyone joins all 100 rooms: 1M memberships
				for _, r := range roomNames {
					if _, created := x.Join(r, m); created {
						balance[roomIdx[r]].Add(1)
					}
				}
			}
			for _, m := range mine { // leave a random half one by one
				for range nRooms / 2 {
					r := roomNames[rng.IntN(nRooms)]
					if _, emptied := x.Leave(r, m); emptied {
						balance[roomIdx[r]].Add(-1)
					}
				}
			}
			for i, m := range mine { // every other member leaves all; the rest rejoin some
				if i%2 == 0 {
					for _, r := range x.LeaveAll(m) {
						balance[roomIdx[r]].Add(-1)
					}
					continue
				}
				for range 10 {
					r := roomNames[rng.IntN(nRooms)]
					if _, created := x.Join(r, m); created {
						balance[roomIdx[r]].Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	t.Logf("churn of %d members x %d rooms: %v, %d visits by concurrent Each", nMembers, nRooms, time.Since(start), visits.Load())

	// Both sides agree.
	memberRooms := make(map[*member]map[string]bool, nMembers)
	fromMembers := 0
	per := nMembers / workers
	for i, m := range members {
		rs := x.RoomsOf(m)
		if (i%per)%2 == 0 && len(rs) != 0 {
			t.Errorf("member %d still in %v after LeaveAll", i, rs)
		}
		set := make(map[string]bool, len(rs))
		for _, r := range rs {
			set[r] = true
		}
		memberRooms[m] = set
		fromMembers += len(rs)
	}
	total := 0
	for _, r := range roomNames {
		ms := x.Members(r)
		want := int64(0)
		if len(ms) > 0 {
			want = 1
		}
		if got := balance[roomIdx[r]].Load(); got != want {
			t.Errorf("room %s: created-emptied = %d, want %d", r, got, want)
		}
		for _, m := range ms {
			if !memberRooms[m][r] {
				t.Errorf("room %s lists member %d, which does not list the room", r, m.id)
			}
		}
		total += len(ms)
	}
	if total != fromMembers {
		t.Errorf("room side holds %d memberships, member side %d", total, fromMembers)
	}
	// Drain: everything leaves, nothing remains.
	for _, m := range members {
		for _, r := range x.LeaveAll(m) {
			balance[roomIdx[r]].Add(-1)
		}
	}
	if x.Len() != 0 {
		t.Errorf("%d rooms left after everyone left", x.Len())
	}
	for i := range balance {
		if got := balance[i].Load(); got != 0 {
			t.Errorf("room %d: created-emptied = %d after drain", i, got)
		}
	}
}

func BenchmarkIndexEach(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		x := NewIndex[*member]()
		for i := range n {
			m := &member{i}
			x.Join("room", m)
			if i%2 == 0 {
				x.Join("other", m)
			}
		}
		var sink int
		fn := func(m *member) { sink += m.id }
		b.Run(fmt.Sprintf("members=%d/rooms=1", n), func(b *testing.B) {
			rooms := []string{"room"}
			b.ReportAllocs()
			for b.Loop() {
				x.Each(rooms, fn)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/member")
		})
		b.Run(fmt.Sprintf("members=%d/rooms=2-overlapping", n), func(b *testing.B) {
			rooms := []string{"room", "other"}
			b.ReportAllocs()
			for b.Loop() {
				x.Each(rooms, fn)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/member")
		})
		b.Run(fmt.Sprintf("members=%d/rooms=1/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				rooms := []string{"room"}
				var s int
				for pb.Next() {
					x.Each(rooms, func(m *member) { s += m.id })
				}
				_ = s
			})
		})
		_ = sink
	}
}

func BenchmarkIndexJoinLeave(b *testing.B) {
	x := NewIndex[*member]()
	ms := make([]*member, 1024)
	for i := range ms {
		ms[i] = &member{i}
	}
	rooms := make([]string, 64)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("room-%d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m, r := ms[i%len(ms)], rooms[i%len(rooms)]
		x.Join(r, m)
		x.Leave(r, m)
		i++
	}
}
