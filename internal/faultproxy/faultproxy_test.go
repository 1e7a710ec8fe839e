package faultproxy

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestCutMidResponse: the next connection old enough to carry server data gets half of one
// read, then EOF; a younger one before it, and the one after it, are forwarded whole.
func TestCutMidResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const reply = "0123456789abcdef"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 1)
				if _, err := c.Read(b); err == nil {
					_, _ = io.WriteString(c, reply)
				}
			}()
		}
	}()
	p, err := New(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const age = 100 * time.Millisecond
	p.CutMidResponse(age)
	get := func(wait time.Duration) string {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		time.Sleep(wait)
		if _, err := c.Write([]byte{'?'}); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		return string(b)
	}
	if got := get(0); got != reply {
		t.Errorf("young connection read %q, want %q", got, reply)
	}
	if got := get(2 * age); got != reply[:len(reply)/2] {
		t.Errorf("cut connection read %q, want %q", got, reply[:len(reply)/2])
	}
	if got := get(2 * age); got != reply {
		t.Errorf("next connection read %q, want %q", got, reply)
	}
	if _, cuts := p.Stats(); cuts != 1 {
		t.Errorf("%d cuts counted, want 1", cuts)
	}
}
