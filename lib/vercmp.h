/*
 * Version comparison, exactly as the package managers do it: everything
 * about "is the fix installed?" rests on these two functions.
 *
 * vg_dpkg_vercmp: Debian Policy 5.6.12.  [epoch:]upstream[-revision];
 *   epochs compare as numbers; upstream and revision compare by
 *   alternating non-digit parts (letters sort before non-letters, '~'
 *   before everything, even the end of the string) and digit parts
 *   (numerically).
 * vg_rpm_vercmp: rpm's rpmvercmp on one version or release string:
 *   alphanumeric segments, numbers above letters, '~' sorts before
 *   anything, '^' after the end but before any other segment.
 * vg_rpm_evrcmp: epoch (missing = 0), then version, then release.
 *
 * All return <0, 0 or >0 like strcmp.  NULL counts as the empty string.
 */
#ifndef VG_VERCMP_H
#define VG_VERCMP_H

int vg_dpkg_vercmp(const char *a, const char *b);
int vg_rpm_vercmp(const char *a, const char *b);
int vg_rpm_evrcmp(const char *epoch_a, const char *version_a, const char *release_a,
                  const char *epoch_b, const char *version_b, const char *release_b);
/* Compares "[EPOCH:]VERSION[-RELEASE]" strings as rpm prints them. */
int vg_rpm_evr_strcmp(const char *a, const char *b);
/* Checks a Debian version's syntax (as dpkg does before comparing).
 * Returns 0 or -EINVAL. */
int vg_dpkg_version_check(const char *v);

#endif
