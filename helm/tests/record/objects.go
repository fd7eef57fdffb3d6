package main

// Named slice and map types with methods, as Helm's built-in objects have
// (chartutil.VersionSet, chartutil.Values): {"$versionset": [...]}, {"$values": {...}}.

type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type Values map[string]interface{}

func (v Values) AsMap() map[string]interface{} {
	if len(v) == 0 {
		return map[string]interface{}{}
	}
	return v
}
