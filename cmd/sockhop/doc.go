// Command sockhop puts any program on the web as a realtime service that gets through
// proxies, and checks a sockhop connection from a terminal.
//
//	sockhop exec [flags] -- PROGRAM ARGS...   one PROGRAM per session, its stdio as events
//	sockhop diag [flags] URL                  try every transport against a sockhop mount
//	sockhop gen ts [flags] [PACKAGES]         the TypeScript event map of a server's Go source
//	sockhop version                           print the version
//
// exec is websocketd with fallbacks: each session starts PROGRAM, each line it writes to
// stdout reaches that client as a "line" event, each "line" the client sends is written to
// its stdin. Sessions run over WebSocket where it gets through, and over SockJS
// xhr-streaming or xhr-polling behind proxies that strip Upgrade or buffer responses.
// Without --static, the page at / is a console that shows the lines on any transport.
//
// diag does from a terminal what the <mount>/diag page does in a browser: it connects with
// each transport, measures round trips and reports the verdict and the likely proxy
// problem in the page's words.
//
// gen ts reads a sockhop server's Go source (package tsgen) and writes the TypeScript
// declarations of its events, for the browser client's connect<Events>(url).
//
// Install with
//
//	go install github.com/sockhop/sockhop/cmd/sockhop@latest
//
// and see README.md ("The sockhop command") for the flags, events, close codes and exit
// statuses, and the websocketd migration table.
//
// # Concurrency
//
// exec: each session has its program and goroutines of its own: the stdout pump, the
// stderr logger, the stdin writer (the only writer of the program's stdin; the client's
// lines reach it in order through the session's handler) and the one that reaps the
// program and then closes the session. Nothing of one session waits for another's.
package main
