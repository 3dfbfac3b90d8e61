// Package examples is a tour of ktstr as a scheduler developer uses it:
// each test here boots its own VM. `scripts/demo.sh` runs them with -v.
package examples
