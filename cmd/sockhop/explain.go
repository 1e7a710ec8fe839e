package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The words below are the diag page's (diag/diag.js: explain, verdict, report), so that a
// terminal and a browser tell an operator the same thing; diag_test.go holds them to it.

// transportLabel is the page's name of each transport.
var transportLabel = map[string]string{
	"websocket":     "WebSocket",
	"xhr-streaming": "HTTP streaming",
	"xhr-polling":   "HTTP polling",
}

// explain fills in the likely cause of each attempt, from the pattern of results.
func explain(d *diagnosis) {
	by := map[string]*attempt{}
	for _, a := range d.Attempts {
		by[a.Transport] = a
	}
	anyHTTP := by["xhr-streaming"].Reached || by["xhr-polling"].Reached
	originRefused := d.Probes.Origin.Status == 403
	blocked := d.Probes.Info.Status == 0 || d.Probes.Info.Status >= 500
	open := int64(diagOpenTimeout.Milliseconds())
	secs := strconv.FormatInt(open/1000, 10)
	for _, a := range d.Attempts {
		switch {
		case a.OK && a.Transport == "websocket":
			a.Cause = "Works: the best way to connect."
			continue
		case a.OK:
			a.Cause = "Works. Used only when the ways above it fail."
			continue
		case a.Reached:
			a.Cause = "It connected, but messages did not make the round trip (" + a.Error + "). " +
				"Something in between drops or alters traffic."
			continue
		case originRefused:
			a.Cause = "The server refused this page's origin (HTTP 403). A proxy in front probably changes the Host " +
				"header (nginx: proxy_set_header Host $http_host; Apache: ProxyPreserveHost On), or this address is " +
				"missing from the server's AllowedOrigins."
			continue
		case blocked:
			why := d.Probes.Info.Error
			if why == "" {
				why = "HTTP " + strconv.Itoa(d.Probes.Info.Status)
			}
			a.Cause = "Blocked: plain requests to the server failed too (" + why + "). A firewall, filter or the network stops them."
			continue
		case a.Error != "" && a.Error != "did not connect":
			a.Cause = "The server answered but turned the session away (" + a.Error + "): that is the site's " +
				"sign-in or connect check, not the network."
			continue
		}
		timedOut := a.FailedMS != nil && *a.FailedMS >= open-200
		switch a.Transport {
		case "websocket":
			if timedOut {
				a.Cause = "The WebSocket upgrade stalled: something in between accepted it but passed nothing on within " +
					secs + " s (a proxy or security software that holds upgraded connections)."
			} else {
				a.Cause = "The WebSocket upgrade was refused or stripped: a proxy in between does not pass the Upgrade and " +
					"Connection headers (nginx: proxy_http_version 1.1 and the two proxy_set_header lines; Apache: " +
					"ProxyPass … upgrade=websocket). The fallbacks cover for it, with more delay."
			}
		case "xhr-streaming":
			switch {
			case timedOut && by["xhr-polling"].Reached:
				a.Cause = "The stream was buffered: no byte arrived within " + secs + " s although polling works. " +
					"A proxy or antivirus holds responses until they end (nginx: proxy_buffering off, and do not " +
					"ignore X-Accel-Buffering)."
			case timedOut:
				a.Cause = "No answer within " + secs + " s."
			default:
				a.Cause = "The streaming request failed (" + a.Error + ")."
			}
		default:
			switch {
			case anyHTTP:
				a.Cause = "Polling failed although streaming works (" + a.Error + ")."
			case timedOut:
				a.Cause = "No answer within " + secs + " s: requests are held or blocked."
			default:
				a.Cause = "The polling request failed (" + a.Error + ")."
			}
		}
	}
}

// verdict is the page's headline: its class (good, slow, bad), title and text.
func verdict(d *diagnosis) [3]string {
	l := d.Ladder
	if !l.OK {
		return [3]string{"bad", "Could not connect",
			"No way of connecting worked from this browser, so live updates on this site will not work here. " +
				"If another network (for example a phone hotspot) works, this network blocks it. Either way, send the " +
				"report below to the site's support."}
	}
	rtt := "-"
	if l.RTTMedian != nil {
		rtt = strconv.FormatFloat(*l.RTTMedian, 'f', -1, 64)
	}
	if l.Transport == "websocket" {
		return [3]string{"good", "All good: connected with WebSocket",
			"Realtime updates reach this browser the fast way (connected in " + strconv.FormatInt(*l.ConnectMS, 10) +
				" ms, round trip " + rtt + " ms)."}
	}
	return [3]string{"slow", "Works, using a fallback: " + transportLabel[l.Transport],
		"Realtime updates work, but WebSocket does not get through, so connecting took " +
			strconv.FormatFloat(float64(*l.ConnectMS)/1000, 'f', 1, 64) + " s and messages take " + rtt +
			" ms for a round trip. Nothing to fix in your browser; " +
			"the table below tells the site's operators which proxy setting is missing."}
}

// print writes the verdict and the page's report.
func (d *diagnosis) print(w io.Writer) {
	pad := func(s string, n int) string {
		for len([]rune(s)) < n {
			s += " "
		}
		return s
	}
	ms := func(v *int64) string { return strconv.FormatInt(*v, 10) + "ms" }
	fmt.Fprintf(w, "%s\n%s\n\n", strings.ToUpper(d.Verdict[1][:1])+d.Verdict[1][1:], d.Verdict[2])
	fmt.Fprintln(w, "sockhop connection check")
	fmt.Fprintln(w, "time:      "+d.FinishedAt)
	fmt.Fprintln(w, "page:      "+d.URL)
	fmt.Fprintln(w, "client:    sockhop diag "+version()+" (Go client)")
	if d.cfg.proxy != "" {
		fmt.Fprintln(w, "proxy:     "+d.cfg.proxy)
	}
	if d.OK {
		fmt.Fprintf(w, "result:    connected over %s in %dms, %d/%d round trips\n", d.Transport, *d.ConnectMS, d.Roundtrips, diagRounds)
	} else {
		fmt.Fprintf(w, "result:    NOT CONNECTED (%s)\n", d.Error)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, pad("transport", 15)+pad("result", 8)+pad("connect", 10)+pad("rtt", 10)+"trips")
	for _, a := range d.Attempts {
		res, conn, rtt := "FAILED", "-", "-"
		if a.OK {
			res = "ok"
		}
		if a.Reached {
			conn = ms(a.ConnectMS)
		} else if a.FailedMS != nil {
			conn = "-(" + ms(a.FailedMS) + ")"
		}
		if a.RTTMedian != nil {
			rtt = strconv.FormatFloat(*a.RTTMedian, 'f', -1, 64) + "ms"
		}
		fmt.Fprintf(w, "%s%s%s%s%d/%d\n", pad(a.Transport, 15), pad(res, 8), pad(conn, 10), pad(rtt, 10), a.Roundtrips, diagRounds)
	}
	for _, a := range d.Attempts {
		if !a.OK {
			fmt.Fprintf(w, "  %s: %s -> %s\n", a.Transport, a.Error, a.Cause)
			if a.Detail != "" {
				fmt.Fprintf(w, "  %s  (%s)\n", strings.Repeat(" ", len(a.Transport)), a.Detail)
			}
		}
	}
	fmt.Fprintln(w)
	info := fmt.Sprintf("probe info:   HTTP %d in %dms", d.Probes.Info.Status, d.Probes.Info.MS)
	if d.Probes.Info.Error != "" {
		info += " " + d.Probes.Info.Error
	}
	fmt.Fprintln(w, info)
	origin := fmt.Sprintf("probe origin: HTTP %d", d.Probes.Origin.Status)
	switch d.Probes.Origin.Status {
	case 403:
		origin += " (origin refused)"
	case 404:
		origin += " (ok)"
	}
	fmt.Fprintln(w, origin)
	if d.ServerSaw == nil {
		fmt.Fprintln(w, "server saw:   (no transport connected)")
	} else {
		fmt.Fprintln(w, "server saw:   "+headerRows(d.ServerSaw))
	}
	for _, n := range d.Notes {
		fmt.Fprintln(w, "note:         "+n)
	}
}

// headerRows is the page's list of forwarding headers the server saw.
func headerRows(h map[string]any) string {
	yes := func(k string) string {
		if v, _ := h[k].(bool); v {
			return "yes"
		}
		return "no"
	}
	via := yes("via")
	if v, _ := h["via_value"].(string); via == "yes" && v != "" {
		via += ": " + v
	}
	proto := "no"
	if v, _ := h["x_forwarded_proto"].(string); v != "" {
		proto = "yes: " + v
	}
	return strings.Join([]string{
		"Via=" + via, "X-Forwarded-For=" + yes("x_forwarded_for"), "X-Forwarded-Proto=" + proto,
		"X-Forwarded-Host=" + yes("x_forwarded_host"), "Forwarded=" + yes("forwarded"), "X-Real-IP=" + yes("x_real_ip"),
	}, ", ")
}
