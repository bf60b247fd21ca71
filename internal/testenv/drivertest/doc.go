// Package drivertest holds the drivers' test fixtures: a real repository,
// mirror or database per tool in a temp dir, scripted executors, and
// helpers to damage a backup and compare trees. Test code only: the
// binary never links it (internal/archtest says so).
package drivertest
