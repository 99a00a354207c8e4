package api

import "net/http"

// HTTPStatus is the HTTP status that answers an error of the given code,
// for the API and the web view alike.
func HTTPStatus(code string) int {
	switch code {
	case CodeInvalid, CodeVersion:
		return http.StatusBadRequest
	case CodeNotFound:
		return http.StatusNotFound
	case CodeForbidden:
		return http.StatusForbidden
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeConflict, CodeBusy:
		return http.StatusConflict
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeHeadTooLarge:
		return http.StatusRequestHeaderFieldsTooLarge
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
