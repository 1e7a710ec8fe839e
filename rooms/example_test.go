package rooms_test

import (
	"fmt"
	"slices"

	"github.com/sockhop/sockhop/rooms"
)

type session struct{ id string }

func ExampleIndex() {
	idx := rooms.NewIndex[*session]()
	alice, bob, carol := &session{"alice"}, &session{"bob"}, &session{"carol"}

	_, created := idx.Join("lobby", alice)
	fmt.Println("lobby created:", created) // subscribe the adapter now
	idx.Join("lobby", bob)
	idx.Join("games", bob)
	idx.Join("games", carol)

	// Publication to two rooms: bob is in both and is visited once.
	var got []string
	idx.Each([]string{"lobby", "games"}, func(s *session) { got = append(got, s.id) })
	slices.Sort(got)
	fmt.Println("to lobby+games:", got)

	fmt.Println("rooms:", idx.Rooms(), "lobby count:", idx.Count("lobby"))
	fmt.Println("bob is in:", idx.RoomsOf(bob))

	// bob's session ends; no room became empty, so nothing to unsubscribe.
	fmt.Println("emptied by bob:", idx.LeaveAll(bob))
	_, emptied := idx.Leave("lobby", alice)
	fmt.Println("lobby emptied:", emptied) // unsubscribe the adapter now
	// Output:
	// lobby created: true
	// to lobby+games: [alice bob carol]
	// rooms: [games lobby] lobby count: 2
	// bob is in: [games lobby]
	// emptied by bob: []
	// lobby emptied: true
}
