#!/usr/bin/env python3
"""Timeline of one shimbench task from `strace -f -tt` of containerd (made by
hack/shimstartup.sh): milestones of the shim's start, the task's create, its
exit and the exit path, in ms after containerd's execve of the shim binary.
Marks named "brisk:" are looked for only in a trace whose name has BRISK.

    python3 hack/strace-timeline.py OUT/strace-BRISK.txt
"""
import sys,re
lines=open(sys.argv[1]).read().splitlines()
def t(s):
    h,m,x=s.split(':'); return (int(h)*3600+int(m)*60+float(x))*1000
SH=r'execve\("[^"]*containerd-shim-(runc|brisk)-v2"'
marks=[("start shim execve",SH),
("serving shim execve",SH),
("serving shim opens its log FIFO (its main runs)",r'openat\(AT_FDCWD, "log", '),
("brisk: config read (service New)",r'brisk\.toml"'),
("brisk: retrier lease taken (a pass over the spool)",r'spool/\.retrier"'),
("brisk: Create reads the bundle's config.json",r'task/brisk-demo/[^/]*/config\.json", O_RDONLY'),
("brisk: spool entry made (.new)",r'spool/\.new/[0-9]+", O_RDONLY'),
("brisk: second capture FIFO made",r'mknodat\(.*spool/\.fifo/.*/stderr'),
("options.json written (runc's task Create)",r'options\.json", O_WRONLY'),
("runc create execve",r'execve\("/opt/brisk/tools/bin/runc".*"create"'),
("runc start execve",r'execve\("/opt/brisk/tools/bin/runc".*"start"'),
("awk execve",r'execve\("/bin/awk"'),
("awk exit_group","AWKEXIT"),
("shim reaps awk (wait4)",r'wait4\(-1, \[\{WIFEXITED'),
("brisk: first cgroup file read (readStats)",r'openat\(AT_FDCWD, "/sys/fs/cgroup/[a-z]+/brisk-demo/'),
("brisk: last cgroup file read","LASTCG"),
("brisk: upperdir measured",r'snapshots/[0-9]+/fs", O_RDONLY'),
("brisk: meta.json renamed (Finish)",r'renameat.*\.meta\.json.*meta\.json'),
("brisk: CA bundle read (S3 client built)",r'ca-certificates'),
("runc kill --all execve (client had the status, deletes the task)",r'execve\("/opt/brisk/tools/bin/runc".*"kill"'),
("brisk: connect to S3",r'connect\(.*AF_INET'),
("runc delete execve",r'execve\("/opt/brisk/tools/bin/runc".*"delete"'),
("shim binary execve again (containerd's dead-shim cleanup)",SH),
]
awk=next(l.split()[0] for l in lines if 'execve("/bin/awk"' in l)
i=0; t0=None
brisk="BRISK" in sys.argv[1]
for name,rx in marks:
    if name.startswith("brisk:") and not brisk: continue
    j=i; hit=None
    if rx=="LASTCG":
        k=i
        while k<len(lines) and re.search(r'openat\(AT_FDCWD, "/sys/fs/cgroup/[a-z]+/brisk-demo/',lines[k]): k+=1
        # last consecutive-ish cgroup read within window
        cand=[n for n in range(i,min(i+400,len(lines))) if re.search(r'openat\(AT_FDCWD, "/sys/fs/cgroup/[a-z]+/brisk-demo/',lines[n])]
        if cand: hit=cand[-1]
    else:
        for n in range(i,len(lines)):
            l=lines[n]
            if "ENOENT" in l: continue
            if (rx=="AWKEXIT" and l.startswith(awk+" ") and "exit_group" in l) or (rx!="AWKEXIT" and re.search(rx,l)):
                hit=n; break
    if hit is None: continue
    ts=t(lines[hit].split()[1])
    if t0 is None: t0=ts
    print(f"| {name} | {ts-t0:.1f} |")
    if rx!="LASTCG" or True: i=hit+1
