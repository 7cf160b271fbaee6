// Package lint holds repository-wide checks that run under go test: the one-way
// import rules between Petrel's packages (STYLE.md §2).
package lint
