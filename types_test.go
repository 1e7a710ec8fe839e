package sockhop_test

import (
	"testing"

	"github.com/sockhop/sockhop"
)

// TestEmitsDeclares: Emits and EmitsRequest are declarations for `sockhop gen ts`; they
// accept any name, several times, and panic on an empty one, like Handle.
func TestEmitsDeclares(t *testing.T) {
	srv, err := sockhop.New(sockhop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sockhop.Emits[string](srv, "price")
	sockhop.Emits[string](srv, "price")
	sockhop.EmitsRequest[string, bool](srv, "confirm")
	for name, f := range map[string]func(){
		"Emits":        func() { sockhop.Emits[int](srv, "") },
		"EmitsRequest": func() { sockhop.EmitsRequest[int, int](srv, "") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with an empty name did not panic", name)
				}
			}()
			f()
		}()
	}
}
