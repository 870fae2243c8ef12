// Package contracttest holds the contract test: real answers of the running
// router, for success and error cases, are validated against api/openapi.yaml
// with kin-openapi, so the document and the code cannot drift apart. It has
// only tests.
//
// Every operation in the document must be called, and every status it
// documents drawn, except those only a bug can produce (see unreachable in
// openapi_test.go): a new route or answer without a row in the table fails.
package contracttest
