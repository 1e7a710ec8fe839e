// Package other has a type named like one of package app.
package other

// Message clashes with app.Message.
type Message struct {
	Body string `json:"body"`
}
