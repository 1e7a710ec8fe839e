package sockhop

import "net/http"

// serveDiag serves the connectivity doctor page at <mount>/diag.
func (srv *Server) serveDiag(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "sockhop: the connectivity doctor is not built yet", http.StatusNotImplemented)
}
