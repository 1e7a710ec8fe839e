package testutil

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// CloseTable is testdata/protocol/close-codes.json: the one table of close codes and HTTP
// refusals (PROTOCOL.md §5). The Go tests of events, the root package and the client, and
// client-js's tests, hold their code and PROTOCOL.md to it.
type CloseTable struct {
	Ranges []struct {
		From, To  int
		Owner     string
		Reconnect bool
	}
	Codes []struct {
		Code      int
		Name      string
		Reconnect bool
		Meaning   string
	}
	HTTP []struct {
		Status  int
		Close   int
		Client  string
		Meaning string
	}
	ClientActions map[string]string
}

// ReadCloseTable reads the table, failing t when it is missing, malformed or has an
// empty list.
func ReadCloseTable(t testing.TB) CloseTable {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), "testdata", "protocol", "close-codes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tab CloseTable
	if err := json.Unmarshal(b, &tab); err != nil {
		t.Fatalf("close-codes.json: %v", err)
	}
	if len(tab.Codes) == 0 || len(tab.Ranges) == 0 || len(tab.HTTP) == 0 {
		t.Fatal("close-codes.json: a list is empty")
	}
	return tab
}
