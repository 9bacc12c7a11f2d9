# A local certificate authority for the secure mode (PEM files, generated on first use, never committed).
# Sourced by stack.sh. Everything lives in $STEPGATE_STATE_DIR/pki.

PKI_DIR="$STEPGATE_STATE_DIR/pki"

pki_ca() {
  command -v openssl >/dev/null || die "pki: openssl not found (apt-get install openssl)"
  mkdir -p "$PKI_DIR"; chmod 755 "$PKI_DIR"
  [[ -f "$PKI_DIR/ca.pem" && -f "$PKI_DIR/ca.key" ]] && return 0
  log "pki: creating the local CA in $PKI_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=stepgate local CA" \
    -keyout "$PKI_DIR/ca.key" -out "$PKI_DIR/ca.pem" 2>/dev/null || die "pki: CA generation failed"
  chmod 600 "$PKI_DIR/ca.key"; chmod 644 "$PKI_DIR/ca.pem"
}

# pki_issue NAME server|client: $PKI_DIR/NAME.pem and NAME.key (PKCS#8, unencrypted, mode 600),
# for 127.0.0.1 and localhost, signed by the local CA. Kept once made.
pki_issue() {
  local name=$1 usage=$2
  pki_ca
  [[ -f "$PKI_DIR/$name.pem" && -f "$PKI_DIR/$name.key" ]] && return 0
  local ext; ext=$(mktemp)
  if [[ $usage == server ]]; then
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"$ext"
  fi
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$PKI_DIR/$name.key" -out "$PKI_DIR/$name.csr" 2>/dev/null \
    && openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/ca.pem" -CAkey "$PKI_DIR/ca.key" -CAcreateserial \
      -days 825 -extfile "$ext" -out "$PKI_DIR/$name.pem" 2>/dev/null \
    || { rm -f "$ext"; die "pki: issuing $name failed"; }
  rm -f "$ext" "$PKI_DIR/$name.csr"
  chmod 600 "$PKI_DIR/$name.key"; chmod 644 "$PKI_DIR/$name.pem"
  log "pki: issued $name ($usage)"
}
