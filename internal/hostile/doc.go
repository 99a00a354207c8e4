// Package hostile holds no code: its tests are probes a hostile or careless
// local user would try against a live `gefion dev`, built from this tree and
// started as a separate process, so that every defect once found stays
// fixed. Each probe names the request, the answer it must get, and what must
// not have changed afterwards.
package hostile
