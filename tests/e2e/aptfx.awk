# Generates a fixture apt host (see t_pending.sh): a dpkg status file and
# the package lists of six releases, with versions drawn at random around
# each installed version.  Writes into the directory `out` (-v out=DIR),
# with -v seed=N -v n=COUNT.  Version pools per package, in increasing
# order, so that every release offers a mix of older, equal and newer.
function pick(a, k) { return a[int(rand() * k) + 1] }
function emit(f, name, ver, arch) {
    printf "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: Fixture <f@example.org>\n", name, ver, arch >> f
    printf "Filename: pool/main/%s_%s_%s.deb\nSize: 1000\nDescription: fixture package\n very long description line\n\n", name, ver, arch >> f
}
BEGIN {
    srand(seed)
    # Releases: list file stem, chance that a package is offered there.
    stem["main"] = "deb.example.org_debian_dists_bookworm_main_binary-amd64_Packages"
    stem["upd"]  = "deb.example.org_debian_dists_bookworm-updates_main_binary-amd64_Packages"
    stem["sec"]  = "security.example.org_debian-security_dists_bookworm-security_updates_main_binary-amd64_Packages"
    stem["bpo"]  = "deb.example.org_debian_dists_bookworm-backports_main_binary-amd64_Packages"
    stem["exp"]  = "deb.example.org_debian_dists_experimental_main_binary-amd64_Packages"
    stem["ven"]  = "repo.vendor.example:8080_apt_dists_stable_non-free_binary-amd64_Packages"
    stem["flat"] = "flat.example.org_repo_._Packages"
    chance["main"] = 0.95; chance["upd"] = 0.3; chance["sec"] = 0.4
    chance["bpo"] = 0.3; chance["exp"] = 0.2; chance["ven"] = 0.25; chance["flat"] = 0.15
    status = out "/var/lib/dpkg/status"
    printf "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n\n" > status
    for (i = 0; i < n; i++) {
        name = "p" i
        k = int(rand() * 20) + 1
        ep = rand() < 0.1 ? "1:" : ""
        up = rand() < 0.15 ? "~rc1" : ""
        # Pool in increasing order; installed is pool[3].
        pool[1] = ep "1." k "-0"
        pool[2] = ep "1." k up "-1~bpo12+1"
        pool[3] = ep "1." k up "-1"
        pool[4] = ep "1." k up "-1+deb12u1"
        pool[5] = ep "1." k up "-1+deb12u2"
        pool[6] = ep "1." k ".1-1~bpo12+1"
        pool[7] = ep "1." k ".1-1"
        pool[8] = ep "2." k "-1"
        arch = rand() < 0.2 ? "all" : "amd64"
        inst = rand() < 0.9 ? pool[3] : pick(pool, 8)
        st = rand() < 0.03 ? "deinstall ok config-files" : "install ok installed"
        printf "Package: %s\nStatus: %s\nPriority: optional\nArchitecture: %s\nVersion: %s\nDescription: x\n\n", name, st, arch, inst > status
        for (r in stem) {
            if (rand() >= chance[r]) continue
            # Releases mostly carry what fits them.
            if (r == "sec") v = pool[4 + int(rand() * 2)]
            else if (r == "bpo") v = rand() < 0.5 ? pool[2] : pool[6]
            else if (r == "exp") v = pool[8]
            else v = pick(pool, 8)
            emit(out "/var/lib/apt/lists/" stem[r], name, v, arch)
            # Sometimes a release offers two versions.
            if (rand() < 0.1) emit(out "/var/lib/apt/lists/" stem[r], name, pick(pool, 8), arch)
        }
    }
}
