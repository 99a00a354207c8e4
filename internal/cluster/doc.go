// Package cluster is the machine model: GPU and node models, nodes, scalable
// units (SUs) and partitions, the built-in presets (dgx-h100, gefion) and
// cluster description files, and the capacity math shown by
// "gefion cluster info".
//
// It is pure data and may be imported by any package. Topology is three
// levels: a node is one NVLink domain; a scalable unit is the group of nodes
// whose rail leaf switches reach each other in one hop; SUs are joined by
// spine switches. Every gefion command links it, so it keeps no maps or
// tables built at package initialisation.
package cluster
