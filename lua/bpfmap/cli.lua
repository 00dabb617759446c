--- bpfmap.cli: the `bpfmap` command's implementation (stub).
return { main = function() io.stderr:write("bpfmap: not yet\n") return 1 end }
