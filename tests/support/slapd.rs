//! A private OpenLDAP `slapd` per test: generated slapd.conf (mdb, the stock schemas),
//! data bulk-loaded with `slapadd` from an LDIF the test writes, listening on a
//! loopback port, killed when dropped. Never the system service.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BASE_DN: &str = "dc=example,dc=com";
pub const READONLY_DN: &str = "cn=readonly,dc=example,dc=com";
pub const READONLY_PASSWORD: &str = "readonly-pw";
const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
const ROOT_PASSWORD: &str = "root-pw";

pub struct Slapd {
    pub url: String,
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
    conf_path: PathBuf,
    /// Global TLS lines of slapd.conf (LDAPS), kept across restarts.
    tls: String,
    /// Overlay lines of the database (syncprov), kept across restarts.
    pub overlay: String,
}

/// One person entry of the test directory.
#[derive(Clone, Debug)]
pub struct Person {
    pub uid: String,
    pub given_name: String,
    pub surname: String,
    pub mail: String,
    pub password: Option<String>,
}

impl Person {
    pub fn numbered(i: usize) -> Person {
        Person {
            uid: format!("user{i:05}"),
            given_name: format!("Given{i}"),
            surname: format!("Surname{i}"),
            mail: format!("user{i:05}@example.com"),
            password: None,
        }
    }
}

/// The base entries, the read-only bind account, and `people` under ou=people.
pub fn ldif(people: &[Person]) -> String {
    let mut s = format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=staff,{BASE_DN}\nobjectClass: organizationalUnit\nou: staff\n\n\
         dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: {READONLY_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: readonly\nuserPassword: {READONLY_PASSWORD}\n\n"
    );
    for p in people {
        let _ = write!(
            s,
            "dn: uid={uid},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {g} {sn}\ngivenName: {g}\nsn: {sn}\nmail: {mail}\ndisplayName: {g} {sn}\n",
            uid = p.uid,
            g = p.given_name,
            sn = p.surname,
            mail = p.mail
        );
        if let Some(pw) = &p.password {
            let _ = writeln!(s, "userPassword: {pw}");
        }
        s.push('\n');
    }
    s
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn conf(dir: &Path, tls: &str, extra: &str) -> String {
    // An Active Directory-shaped directory (see [`Slapd::start_ad`]) has its schema and
    // root DSE beside its database.
    let ad = if dir.join(AD_SCHEMA).exists() {
        format!(
            "include {d}/{AD_SCHEMA}\nrootDSE {d}/{AD_ROOT_DSE}\n",
            d = dir.display()
        )
    } else {
        String::new()
    };
    format!(
        "{tls}include /etc/ldap/schema/core.schema\n\
         include /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\n\
         include /etc/ldap/schema/nis.schema\n\
         {ad}\
         pidfile {d}/slapd.pid\n\
         modulepath /usr/lib/ldap\n\
         moduleload back_mdb\n\
         moduleload refint\n\
         moduleload syncprov\n\
         database mdb\n\
         maxsize 1073741824\n\
         suffix \"{BASE_DN}\"\n\
         rootdn \"{ROOT_DN}\"\n\
         rootpw {ROOT_PASSWORD}\n\
         directory {d}/db\n\
         index objectClass eq\n\
         index entryUUID eq\n\
         index uid,mail eq\n\
         {extra}\
         access to attrs=userPassword by self write by anonymous auth by * none\n\
         access to * by * read\n\
         database monitor\n\
         access to * by * read\n",
        d = dir.display()
    )
}

const AD_SCHEMA: &str = "ad.schema";
const AD_ROOT_DSE: &str = "rootdse.ldif";

/// What slapd needs to answer as Active Directory does where the agent looks (test OIDs
/// under a private arc): binary GUIDs and SIDs, USNs comparable with `>=`, the primary
/// group, the root DSE's USN and the domain controller's NTDS Settings object.
const AD_SCHEMA_TEXT: &str = "\
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'objectGUID' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'objectSid' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.3 NAME 'uSNChanged' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.4 NAME 'primaryGroupID' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.5 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.6 NAME 'invocationId' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.7 NAME 'highestCommittedUSN' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.8 NAME 'dsServiceName' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.9 NAME 'defaultNamingContext' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.10 NAME 'isDeleted' EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'adUser' AUXILIARY MAY ( objectGUID $ uSNChanged $ primaryGroupID $ userAccountControl ) )
objectclass ( 1.3.6.1.4.1.55555.2.2 NAME 'group' STRUCTURAL MUST cn MAY ( member $ objectGUID $ objectSid $ uSNChanged $ description $ mail ) )
objectclass ( 1.3.6.1.4.1.55555.2.3 NAME 'nTDSDSA' STRUCTURAL MUST cn MAY invocationId )
";

/// The NTDS Settings object of the Active Directory-shaped directory.
pub const AD_DSA_DN: &str = "cn=NTDS Settings,dc=example,dc=com";

impl Slapd {
    /// Starts a directory shaped like Active Directory where the agent looks (see
    /// [`AD_SCHEMA_TEXT`]), holding `ldif` (with an NTDS Settings entry at
    /// [`AD_DSA_DN`]); its root DSE says `highestCommittedUSN` is `usn`. Slapd keeps no
    /// USNs: a test sets each entry's `uSNChanged` as AD would, and [`Slapd::set_usn`].
    /// It has no Show Deleted control, so its deletions are never proven by tombstones.
    pub fn start_ad(ldif: &str, usn: u64) -> Slapd {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(AD_SCHEMA), AD_SCHEMA_TEXT).unwrap();
        write_root_dse(dir.path(), usn);
        Self::start_with_in(dir, ldif, None, "")
    }

    /// The Active Directory-shaped directory's `highestCommittedUSN` (slapd reads its root
    /// DSE file at start: restarts it).
    pub fn set_usn(&mut self, usn: u64) {
        write_root_dse(self.dir.path(), usn);
        self.restart(UNLIMITED);
    }

    /// Starts a directory holding `ldif`.
    pub fn start(ldif: &str) -> Slapd {
        Self::start_with(ldif, None)
    }

    /// Starts a directory holding `ldif` that speaks LDAPS only, with a certificate
    /// for 127.0.0.1 signed by a CA of its own (the returned [`TestCert`]'s `ca`).
    /// The files live as long as the directory.
    pub fn start_ldaps(ldif: &str) -> (Slapd, crate::certs::TestCert) {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = crate::certs::self_signed(dir.path());
        (Self::start_with_in(dir, ldif, Some(&cert), ""), cert)
    }

    fn start_with(ldif: &str, cert: Option<&crate::certs::TestCert>) -> Slapd {
        Self::start_with_in(tempfile::tempdir().expect("temp dir"), ldif, cert, "")
    }

    /// Starts a directory holding `ldif` with the `syncprov` overlay (RFC 4533 content
    /// synchronization), as a directory offering delta reads is set up. With
    /// `sessionlog`, it keeps a log of deletions and answers a refresh with a delete
    /// phase; without, with a present phase (which proves no deletion to a delta read).
    pub fn start_syncprov(ldif: &str, sessionlog: bool) -> Slapd {
        let mut overlay =
            "index entryCSN eq\noverlay syncprov\nsyncprov-checkpoint 100 10\n".to_owned();
        if sessionlog {
            overlay.push_str("syncprov-sessionlog 1000\n");
        }
        Self::start_with_in(tempfile::tempdir().expect("temp dir"), ldif, None, &overlay)
    }

    fn start_with_in(
        dir: tempfile::TempDir,
        ldif: &str,
        cert: Option<&crate::certs::TestCert>,
        overlay: &str,
    ) -> Slapd {
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        let conf_path = dir.path().join("slapd.conf");
        let tls = match cert {
            Some(c) => format!(
                "TLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                c.cert.display(),
                c.key.display()
            ),
            None => String::new(),
        };
        let scheme = if cert.is_some() { "ldaps" } else { "ldap" };
        let extra = format!("{UNLIMITED}{overlay}");
        std::fs::write(&conf_path, conf(dir.path(), &tls, &extra)).unwrap();
        let ldif_path = dir.path().join("data.ldif");
        std::fs::write(&ldif_path, ldif).unwrap();
        let out = Command::new(slapd_tool("slapadd"))
            .args(["-q", "-f"])
            .arg(&conf_path)
            .arg("-l")
            .arg(&ldif_path)
            .output()
            .expect("slapadd runs (install slapd: scripts/test does)");
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        for _ in 0..5 {
            let port = free_port();
            let url = format!("{scheme}://127.0.0.1:{port}");
            let mut child = Command::new(slapd_tool("slapd"))
                .arg("-f")
                .arg(&conf_path)
                .arg("-h")
                .arg(format!("{url}/"))
                .args(["-d", "0"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    std::fs::File::create(dir.path().join("slapd.log")).unwrap(),
                ))
                .spawn()
                .expect("slapd starts");
            if wait_listening(&mut child, port) {
                return Slapd {
                    url,
                    port,
                    dir,
                    child,
                    conf_path,
                    tls,
                    overlay: overlay.to_owned(),
                };
            }
            // Most likely the port was taken meanwhile: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "slapd did not start: {}",
            std::fs::read_to_string(dir.path().join("slapd.log")).unwrap_or_default()
        );
    }

    /// Freezes the directory (SIGSTOP): connections are accepted by the kernel but
    /// nothing answers — a hung server — until [`Slapd::resume`].
    pub fn pause(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
    }

    pub fn resume(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).expect("SIGCONT");
    }

    /// Stops the directory: connections are refused until [`Slapd::restart`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Shuts the directory down as its service manager would (SIGTERM): it writes its
    /// state (syncprov's contextCSN) first. Connections are refused until
    /// [`Slapd::restart`].
    pub fn shut_down(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }

    /// Restarts on the same port and data, with `extra` lines in the database section
    /// instead of [`UNLIMITED`] (a `sizelimit`, say).
    pub fn restart(&mut self, extra: &str) {
        self.stop();
        let extra = format!("{extra}{}", self.overlay);
        std::fs::write(&self.conf_path, conf(self.dir.path(), &self.tls, &extra)).unwrap();
        let child = Command::new(slapd_tool("slapd"))
            .arg("-f")
            .arg(&self.conf_path)
            .arg("-h")
            .arg(format!("{}/", self.url))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.path().join("slapd.log")).unwrap(),
            ))
            .spawn()
            .expect("slapd starts");
        self.child = child;
        assert!(
            wait_listening(&mut self.child, self.port),
            "slapd did not restart: {}",
            self.log()
        );
    }

    /// The directory's data as LDIF, with its operational attributes (entryUUID,
    /// entryCSN, contextCSN): a backup, as `slapcat` makes one.
    pub fn backup(&self) -> String {
        let out = Command::new(slapd_tool("slapcat"))
            .arg("-f")
            .arg(&self.conf_path)
            .output()
            .expect("slapcat runs");
        assert!(
            out.status.success(),
            "slapcat failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("slapcat writes text")
    }

    /// Restores a [`Slapd::backup`]: the directory as it was then, restarted.
    pub fn restore(&mut self, backup: &str) {
        self.stop();
        let db = self.dir.path().join("db");
        std::fs::remove_dir_all(&db).unwrap();
        std::fs::create_dir_all(&db).unwrap();
        let ldif_path = self.dir.path().join("backup.ldif");
        std::fs::write(&ldif_path, backup).unwrap();
        let out = Command::new(slapd_tool("slapadd"))
            .args(["-q", "-w", "-f"])
            .arg(&self.conf_path)
            .arg("-l")
            .arg(&ldif_path)
            .output()
            .expect("slapadd runs");
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.restart(UNLIMITED);
    }

    /// A connection bound as the directory's root, to change entries as an admin would.
    pub async fn admin(&self) -> ldap3::Ldap {
        let (conn, mut ldap) = ldap3::LdapConnAsync::new(&self.url)
            .await
            .expect("connect to slapd");
        ldap3::drive!(conn);
        ldap.simple_bind(ROOT_DN, ROOT_PASSWORD)
            .await
            .unwrap()
            .success()
            .expect("root bind");
        ldap
    }

    /// Adds a person under ou=people.
    pub async fn add(&self, p: &Person) {
        let mut l = self.admin().await;
        let dn = format!("uid={},ou=people,{BASE_DN}", p.uid);
        let cn = format!("{} {}", p.given_name, p.surname);
        let attrs = vec![
            ("objectClass", ["inetOrgPerson"].into_iter().collect()),
            ("uid", [p.uid.as_str()].into_iter().collect()),
            ("cn", [cn.as_str()].into_iter().collect()),
            ("givenName", [p.given_name.as_str()].into_iter().collect()),
            ("sn", [p.surname.as_str()].into_iter().collect()),
            ("mail", [p.mail.as_str()].into_iter().collect()),
            ("displayName", [cn.as_str()].into_iter().collect()),
        ];
        l.add(&dn, attrs)
            .await
            .unwrap()
            .success()
            .expect("add entry");
    }

    /// Replaces one attribute of the person `uid`.
    pub async fn set(&self, uid: &str, attr: &str, value: &str) {
        let mut l = self.admin().await;
        let dn = format!("uid={uid},ou=people,{BASE_DN}");
        let values: std::collections::HashSet<&str> = [value].into_iter().collect();
        l.modify(&dn, vec![ldap3::Mod::Replace(attr, values)])
            .await
            .unwrap()
            .success()
            .expect("modify entry");
    }

    /// Replaces the values of the entry `dn`'s attributes (one value each).
    pub async fn replace(&self, dn: &str, values: &[(&str, &str)]) {
        let mut l = self.admin().await;
        let mods = values
            .iter()
            .map(|(a, v)| ldap3::Mod::Replace(*a, [*v].into_iter().collect()))
            .collect();
        l.modify(dn, mods)
            .await
            .unwrap()
            .success()
            .expect("modify entry");
    }

    /// Renames (and optionally moves) the person `uid`.
    pub async fn rename(&self, uid: &str, new_uid: &str, new_ou: Option<&str>) {
        let mut l = self.admin().await;
        let dn = format!("uid={uid},ou=people,{BASE_DN}");
        let sup = new_ou.map(|ou| format!("ou={ou},{BASE_DN}"));
        l.modifydn(&dn, &format!("uid={new_uid}"), true, sup.as_deref())
            .await
            .unwrap()
            .success()
            .expect("rename entry");
    }

    pub async fn delete(&self, uid: &str, ou: &str) {
        let mut l = self.admin().await;
        l.delete(&format!("uid={uid},ou={ou},{BASE_DN}"))
            .await
            .unwrap()
            .success()
            .expect("delete entry");
    }

    /// Adds an entry at `dn` with `attrs` (name, values).
    pub async fn add_entry(&self, dn: &str, attrs: &[(&str, Vec<String>)]) {
        let mut l = self.admin().await;
        let attrs: Vec<(&str, std::collections::HashSet<&str>)> = attrs
            .iter()
            .map(|(k, v)| (*k, v.iter().map(String::as_str).collect()))
            .collect();
        l.add(dn, attrs)
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|e| panic!("add {dn}: {e}"));
    }

    /// Adds (`add`) or removes values of `attr` of the entry `dn`.
    pub async fn change_values(&self, dn: &str, attr: &str, values: &[String], add: bool) {
        let mut l = self.admin().await;
        let set: std::collections::HashSet<&str> = values.iter().map(String::as_str).collect();
        let m = if add {
            ldap3::Mod::Add(attr, set)
        } else {
            ldap3::Mod::Delete(attr, set)
        };
        l.modify(dn, vec![m])
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|e| panic!("modify {dn}: {e}"));
    }

    /// Renames the entry `dn` to the RDN `rdn` (same parent).
    pub async fn rename_entry(&self, dn: &str, rdn: &str) {
        let mut l = self.admin().await;
        l.modifydn(dn, rdn, true, None)
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|e| panic!("rename {dn}: {e}"));
    }

    pub async fn delete_entry(&self, dn: &str) {
        let mut l = self.admin().await;
        l.delete(dn)
            .await
            .unwrap()
            .success()
            .unwrap_or_else(|e| panic!("delete {dn}: {e}"));
    }

    /// Connections the directory has accepted since it started (its monitor's count).
    pub async fn connections_accepted(&self) -> u64 {
        let mut ldap = self.admin().await;
        let (entries, _) = ldap
            .search(
                "cn=Total,cn=Connections,cn=Monitor",
                ldap3::Scope::Base,
                "(objectClass=*)",
                vec!["monitorCounter"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        let entry = ldap3::SearchEntry::construct(entries.into_iter().next().expect("the monitor"));
        let _ = ldap.unbind().await;
        entry.attrs["monitorCounter"][0].parse().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// An adc.yaml for this directory, as a user would write it.
    pub fn adc_yaml(&self, settings: &str) -> String {
        format!(
            "settings:\n{settings}backend:\n  ldap:\n    addr: {url}\n    bind_dn: {READONLY_DN}\n    bind_password: {READONLY_PASSWORD}\n    base_dn: {BASE_DN}\n    scope: sub\n    sync:\n      page_size: 20\n      filter: (objectClass=inetOrgPerson)\n    authentication:\n      username_attribute: mail\n      username_filter_template: (&(objectClass=inetOrgPerson)(mail=%s))\n      timeout: 5\n",
            url = self.url
        )
    }
}

fn write_root_dse(dir: &Path, usn: u64) {
    std::fs::write(
        dir.join(AD_ROOT_DSE),
        format!(
            "dn:\nhighestCommittedUSN: {usn}\ndsServiceName: {AD_DSA_DN}\ndefaultNamingContext: {BASE_DN}\n"
        ),
    )
    .unwrap();
}

fn wait_listening(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Lifts slapd's stock size limit of 500 for bound users, so large paged reads
/// complete; [`Slapd::restart`] without it brings the limit back.
pub const UNLIMITED: &str =
    "limits users size.soft=unlimited size.hard=unlimited size.prtotal=unlimited\n";

/// [`UNLIMITED`] with the referential-integrity overlay: renaming or deleting an entry
/// rewrites the member values that name it, as Active Directory does.
pub const WITH_REFINT: &str = "limits users size.soft=unlimited size.hard=unlimited size.prtotal=unlimited\n\
     overlay refint\n\
     refint_attributes member uniqueMember\n";

/// Where the tests' groups live.
pub const GROUPS_DN: &str = "ou=groups,dc=example,dc=com";

/// The DN of the person `uid`.
pub fn person_dn(uid: &str) -> String {
    format!("uid={uid},ou=people,{BASE_DN}")
}

/// The DN of the group `cn`.
pub fn group_dn(cn: &str) -> String {
    format!("cn={cn},{GROUPS_DN}")
}

/// LDIF of a group of `class` (groupOfNames, groupOfUniqueNames, posixGroup) named
/// `cn` with `members`: DNs, or uids for a posixGroup.
pub fn group_ldif(class: &str, cn: &str, members: &[String]) -> String {
    let attr = match class {
        "groupOfNames" => "member",
        "groupOfUniqueNames" => "uniqueMember",
        "posixGroup" => "memberUid",
        other => panic!("no such group class {other}"),
    };
    let mut s = format!("dn: {}\nobjectClass: {class}\ncn: {cn}\n", group_dn(cn));
    if class == "posixGroup" {
        s.push_str("gidNumber: 1000\n");
    }
    for m in members {
        let _ = writeln!(s, "{attr}: {m}");
    }
    s.push('\n');
    s
}

/// slapd and slapadd live in /usr/sbin, which is not always on PATH.
fn slapd_tool(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from(name)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
