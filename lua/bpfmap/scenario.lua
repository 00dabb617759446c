--- bpfmap.scenario: declared scenarios over loaded programs (stub).
return {}
