def test_start_and_info_on_three_hosts(lab):
    run = lab.play([
        {'name': 'start', 'remote.jobs.start': {'name': 'smoke', 'command': 'echo hello from {{ inventory_hostname }}'},
         'register': 'started'},
        {'name': 'wait', 'remote.jobs.wait': {'id': '{{ started.id }}', 'timeout': 20}},
        {'name': 'receive', 'remote.jobs.receive': {'id': '{{ started.id }}'}},
    ])
    assert run.rc == 0, run.output
    for host in ('h1', 'h2', 'h3'):
        assert run.result('receive', host)['stdout'] == 'hello from %s\n' % host
